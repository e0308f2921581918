"""Search quality on the corpus novels: hit@1 and hit@5 and p95 latency, by meaning, by words, and hybrid.

Each query names its target chapter by a locator: a phrase found in that chapter only (checked at run
time, so a wrong target cannot hide). Quotes are the locator itself; paraphrases share no phrase with it.
Run from the repository root: `.venv/bin/python -m bench.search_quality` (`--check` only checks the
locators, without embedding anything).
"""

from __future__ import annotations

import re
import statistics
import sys
import time
from pathlib import Path

CORPUS = Path(__file__).resolve().parents[1] / "tests" / "corpus"
K = 5

# (query, locator of the target chapter); "=" as locator: the query is a quote and locates itself.
QUERIES: dict[str, list[tuple[str, str]]] = {
    "frankenstein.txt": [
        ("you must create a female for me", "="),
        ("the miserable monster whom I had created", "="),
        ("It was on a dreary night of November", "="),
        ("Remember that I am thy creature", "="),
        ("Beware, for I am fearless and therefore powerful", "="),
        ("I ought to be thy Adam", "="),
        ("a stream of fire issue from an old and beautiful oak", "="),
        ("the creature finds books in a leather case and reads them", "Sorrows of Werter"),
        ("Victor tears apart the half-made second creature", "tore to pieces the thing on which I was engaged"),
        ("the bride is found dead on her wedding night", "thrown across the bed"),
        ("sailors trapped in the ice see a giant on a dog sledge", "fixed on a sledge"),
        ("a lecture on chemistry by a kindly professor changes his life", "M. Waldman entered shortly after"),
        ("his mother catches an illness while nursing her adopted daughter", "Elizabeth had caught the scarlet fever"),
        ("the creature vows to burn himself on a funeral pyre at the pole", "ascend my funeral pile triumphantly"),
        ("the creature leaves food and messages to lure his maker northwards", "a dead hare"),
        ("an explorer writes to his sister about his voyage to the north", "You will rejoice to hear"),
        ("the creature rescues a drowning girl and is shot for it", "saved a human being from destruction"),
        ("the family in the cottage flee in terror when the creature meets the old blind man", "Felix darted forward"),
        ("Victor's friend is found strangled on the Irish shore", "the black mark of fingers"),
        ("the servant girl is condemned for the child's murder", "Justine also was a girl of merit"),
        ("the creature sets the cottage on fire", "I lighted the dry branch of a tree"),
    ],
    "pride_and_prejudice.txt": [
        ("It is a truth universally acknowledged", "="),
        ("She is tolerable, but not handsome enough to tempt me", "="),
        ("the mode of your declaration affected me", "="),
        ("Your mother will never see you again if you do not marry Mr. Collins", "="),
        ("Are the shades of Pemberley to be thus polluted?", "="),
        ("You have delighted us long enough", "="),
        ("My affections and wishes are unchanged", "="),
        ("the clergyman cousin proposes and lists his reasons for marrying", "My reasons for marrying are"),
        ("Charlotte accepts a man she does not love for the sake of a home", "pure and disinterested desire of an establishment"),
        ("the youngest sister runs away with an officer", "gone off to Scotland with one of his officers"),
        ("a letter that explains the truth about the officer's past", "Be not alarmed, madam, on receiving this letter"),
        ("she tours his great house in Derbyshire and meets him by surprise", "Their eyes instantly met"),
        ("the eldest sister gets engaged to her admirer at last", "'Tis too much!"),
        ("she walks across muddy fields to see her sick sister", "dirty stockings"),
        ("she tells her father that she loves the man he thought she hated", "Indeed he has no improper pride"),
        ("the aunt's letter reveals who paid for the wedding", "Your uncle is as much surprised as I am"),
        ("a mother complains about her nerves to an indifferent husband", "You have no compassion for my poor nerves"),
        ("the officer claims he was cheated of a church living", "the living fell"),
        ("a new tenant of the great house near the village", "Netherfield Park is let at last"),
        ("the great lady calls her obstinate when she will not promise anything", "Obstinate, headstrong girl"),
    ],
    "little_women.txt": [
        ("Christmas won't be Christmas without any presents", "="),
        ("the Pickwick Portfolio", "="),
        ("the girls give their Christmas breakfast to a poor family", "Merry Christmas, little daughters"),
        ("Jo sells her hair to pay for the journey to their sick father", "Your hair! Your beautiful hair!"),
        ("the youngest sister burns her sister's book in revenge", "I burned it up"),
        ("a schoolgirl is punished for bringing pickled limes to class", "pickled limes"),
        ("the neighbour gives the shy sister a little piano", "cabinet piano"),
        ("her first story is printed in a newspaper", "The Rival Painters"),
        ("the boy skates ahead sounding the ice before the accident", "sounding the ice"),
        ("sensational stories for a weekly paper", "Weekly Volcano"),
        ("the gentle sister catches scarlet fever from a baby that died", "died in my lap"),
        ("The jelly won't jell", "="),
        ("Laurie declares his love and Jo turns him down", "I don't believe it's the right sort of love"),
        ("the professor proposes under an umbrella in the rain", "Heart's dearest, why do you"),
        ("their father comes home on Christmas day", "another Christmas present for the March family"),
        ("the young wife's preserves fail and her husband brings a guest home", "put up her own currant jelly"),
        ("Mr. Brooke comes back for his umbrella and finds Meg", "Mr. Brooke came for his umbrella"),
        ("the March girls play at being pilgrims with burdens", "used to play Pilgrims Progress"),
        ("curling tongs burn a sister's hair before the party", "scorched bundles"),
        ("the wild girl admits her temper nearly led to harm", "headstrong and violent"),
    ],
    "the_man_in_the_brown_suit.txt": [
        ("Nadina, the Russian dancer who had taken Paris by storm", "="),
        ("It was double pneumonia", "="),
        ("A roll of Kodak films", "="),
        ("Chichester had dropped his coffee-cup", "="),
        ("It was a colossal giraffe with an impossible neck", "="),
        ("your real name is Harry Lucas", "="),
        ("The Durban train left at 8.15", "="),
        ("a man falls onto the live rail at a London tube station", "rail at Hyde Park Corner Tube Station"),
        ("diamonds from South America swapped for stolen ones by two young prospectors", "America by two young prospectors"),
        ("a scrap of paper with numbers and the name of a ship", "1 7 . 1 2 2 Kilmorden Castle"),
        ("rumours of a miners' strike in Johannesburg", "rumours of a strike on the Rand"),
        ("she sees the great waterfall for the first time", "never seen anything so grand"),
        ("a dead woman found in an upstairs room of an empty house to let at Marlow", "A sensational discovery was made yesterday"),
        ("her father the professor and his book about prehistoric man", "Neanderthal Man and"),
        ("the police surgeon says how long the foreign woman had been dead", "The police surgeon gave it as his"),
        ("a politician's diary praises good food and wine in England", "a well-cooked meal, a sound wine"),
        ("what she overheard at the house by the sea near Cape Town", "what I had overheard at the house at Muizenberg"),
        ("natives at the station sell little carved animals", "quaint wooden animals"),
        ("a note asks her to come to the palm gully in memory of a cabin", "In memory of Cabin 17 please come"),
        ("the secretary quarrels with the clergyman", "Pagett began to lose his temper"),
    ],
}


def _normal(text: str) -> str:
    text = text.replace("’", "'").replace("‘", "'").replace("“", '"').replace("”", '"').replace("—", "-")
    text = text.replace("_", "")  # italics in the Gutenberg texts
    return re.sub(r"\s+", " ", text).lower()


def targets(chapters: list[tuple[object, str, str]], queries: list[tuple[str, str]]) -> list[tuple[str, object, str]]:
    """(query, target chapter id, heading) for each query whose locator is in exactly one chapter."""
    texts = [(chapter_id, heading, _normal(text)) for chapter_id, heading, text in chapters]
    found, broken = [], []
    for query, locator in queries:
        needle = _normal(query if locator == "=" else locator)
        where = [(chapter_id, heading) for chapter_id, heading, text in texts if needle in text]
        if len(where) == 1:
            found.append((query, *where[0]))
        else:
            broken.append(f"{locator if locator != '=' else query!r}: in {len(where)} chapters")
    if broken:
        raise SystemExit("locators that do not name exactly one chapter:\n  " + "\n  ".join(broken))
    return found


def check_locators() -> None:
    from core.ingest.formats import parse_book

    for name, queries in QUERIES.items():
        parsed = parse_book(name, (CORPUS / name).read_bytes(), max_bytes=50 << 20, max_words=3_000_000)
        try:
            found = targets([(n, c.heading, c.text) for n, c in enumerate(parsed.chapters)], queries)
            print(f"{name}: {len(found)} queries, each locator in one chapter")
        except SystemExit as problem:
            print(f"{name}: {problem}")


def ingest_corpus() -> dict[str, tuple]:
    """Each novel ingested as the app does it (one writer); returns name -> (writer id, book id)."""
    from core import jobs
    from core.services import library
    from core.services.accounts import sign_up

    writer = sign_up(f"bench-search-{time.time_ns()}@example.com", "bench-password-123")
    books = {}
    for name in QUERIES:
        started = time.perf_counter()
        job_id = library.start_ingest(writer.id, name, (CORPUS / name).read_bytes(), queue=False)
        jobs.run_job(str(job_id), str(writer.id), library.ingest_book, jobs.get_job(writer.id, job_id).params)
        job = jobs.get_job(writer.id, job_id)
        assert job.status == "succeeded", job.error
        print(f"ingested {name}: {job.result['chunks']} chunks in {time.perf_counter() - started:.0f} s", flush=True)
        books[name] = (writer.id, job.book_id)
    return books


def measure(books: dict[str, tuple]) -> None:
    import numpy as np
    from sqlalchemy import select

    from core.embeddings import get_embedder
    from core.retrieval import Scope, hybrid_chunks, nearest_chunks, word_chunks
    from db.engine import unit_of_work
    from db.models import Chapter

    embedder = get_embedder()
    modes = {
        "meaning": lambda session, scope, vector, query: nearest_chunks(session, scope, vector, K),
        "words": lambda session, scope, vector, query: word_chunks(session, scope, query, K),
        "hybrid": lambda session, scope, vector, query: hybrid_chunks(session, scope, vector, query, K),
    }
    hits = {mode: [0, 0] for mode in modes}
    per_book = {}
    latency = {mode: [] for mode in modes}
    embed_seconds = []
    total = 0
    for name, (writer_id, book_id) in books.items():
        with unit_of_work(writer_id) as session:
            chapters = session.execute(select(Chapter.id, Chapter.heading, Chapter.text)
                                       .where(Chapter.book_id == book_id)).all()
        book_hits = {mode: [0, 0] for mode in modes}
        for query, target, _heading in targets(chapters, QUERIES[name]):
            started = time.perf_counter()
            vector = np.asarray(embedder.embed_query(query), dtype=np.float32)
            embed_seconds.append(time.perf_counter() - started)
            total += 1
            for mode, search in modes.items():
                with unit_of_work(writer_id) as session:
                    started = time.perf_counter()
                    found = search(session, Scope(book_id), vector, query)
                    latency[mode].append(time.perf_counter() - started)
                chapters_found = [hit.chapter_id for hit in found]
                for counter in (hits[mode], book_hits[mode]):
                    counter[0] += chapters_found[:1] == [target]
                    counter[1] += target in chapters_found[:K]
        per_book[name] = (len(QUERIES[name]), book_hits)

    print(f"\n{total} queries on {len(books)} novels (quotes and paraphrases), top {K}, each search scoped to its book")
    print(f"{'mode':<8} {'hit@1':>6} {'hit@5':>6} {'p50 ms':>7} {'p95 ms':>7}   (SQL only; meaning and hybrid also "
          f"embed the query: p50 {_ms(embed_seconds, 50)} ms, p95 {_ms(embed_seconds, 95)} ms)")
    for mode in modes:
        print(f"{mode:<8} {hits[mode][0] / total:6.2f} {hits[mode][1] / total:6.2f} {_ms(latency[mode], 50):>7} "
              f"{_ms(latency[mode], 95):>7}")
    for name, (count, book_hits) in per_book.items():
        print(f"  {name:<32} " + "  ".join(f"{mode} {h1}/{h5} of {count}" for mode, (h1, h5) in book_hits.items()))


def _ms(seconds: list[float], percentile: int) -> str:
    return f"{statistics.quantiles(seconds, n=100)[percentile - 1] * 1000:.1f}"


def main() -> None:
    if "--check" in sys.argv:
        check_locators()
        return
    from bench.ingest import use_private_embedded_server

    use_private_embedded_server()
    from db import migrate

    migrate.upgrade()
    measure(ingest_corpus())


if __name__ == "__main__":
    main()
