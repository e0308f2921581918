"""core.nlp: entities with titles, speech attributions from the parse, adjectives on people, the per-chapter cache."""

from __future__ import annotations

import hashlib

import pytest

from sqlalchemy import func, select

from core import nlp
from db.engine import unit_of_work
from db.models import Book, Chapter, NlpAnnotation

TEXT = (
    "It was a Monday in June when Mr. Ashcombe came to Fernley.\n\n"
    "\u201cYou are late,\u201d said Harriet Vale. She was tall and proud.\n\n"
    "Mrs. Ashcombe replied, \u201cThe roads from London were dreadful.\u201d\n\n"
    "Poor Harriet walked to the window at noon."
)


def test_mentions_keep_titles_and_tell_people_from_places_and_dates():
    annotations = nlp.annotate_chapter(TEXT)
    people = {m.text for m in annotations.mentions if m.label == "PERSON"}
    assert {"Mr. Ashcombe", "Mrs. Ashcombe", "Harriet Vale"} <= people
    assert not people & {"Monday", "June", "London"}
    # The small model may call a place a person; the mention says it followed "to", which extraction weighs.
    assert all(m.after_place_word for m in annotations.mentions if m.text == "Fernley")
    assert {m.label for m in annotations.mentions if m.text in ("Monday", "June")} <= {"DATE"}
    for mention in annotations.mentions:
        assert TEXT[mention.start:mention.end].startswith(mention.text.split()[0])
    assert next(m for m in annotations.mentions if m.text == "Mr. Ashcombe").honorific == "Mr"


def test_speech_is_attributed_to_the_named_speaker_either_side_of_the_quote():
    annotations = nlp.annotate_chapter(TEXT)
    spoken = {TEXT[s.quote_start:s.quote_end]: s.speaker for s in annotations.speeches}
    assert spoken == {"\u201cYou are late,\u201d": "Harriet Vale",
                      "\u201cThe roads from London were dreadful.\u201d": "Mrs. Ashcombe"}


def test_adjectives_applied_to_a_person_are_kept_with_their_sentence():
    annotations = nlp.annotate_chapter(TEXT)
    words = {(d.name, d.word) for d in annotations.descriptors}
    assert ("Harriet", "poor") in words
    sentence = next(d.sentence for d in annotations.descriptors if d.word == "poor")
    assert annotations.sentence_text(TEXT, sentence).startswith("Poor Harriet walked")


def test_straight_quotes_pair_within_a_paragraph():
    text = 'He said "one" and "two".\n\n"Three'
    assert [text[a:b] for a, b in nlp.find_quotes(text)] == ['"one"', '"two"']


def test_book_annotations_are_cached_and_an_edit_rereads_only_that_chapter(writer_a):
    texts = [TEXT, "Harriet Vale left for Bath on Tuesday.", "Mr. Ashcombe stayed behind."]
    with unit_of_work(writer_a.id) as session:
        book = Book(user_id=writer_a.id, title="Cache")
        session.add(book)
        session.flush()
        for number, text in enumerate(texts, start=1):
            session.add(Chapter(book_id=book.id, user_id=writer_a.id, number=number, title=str(number), text=text,
                                content_sha256=hashlib.sha256(text.encode()).hexdigest()))
        book_id = book.id
    chapters = [(None, t) for t in texts]
    first = nlp.annotate_book(writer_a.id, book_id, chapters)
    again = nlp.annotate_book(writer_a.id, book_id, chapters)
    assert [a.model_dump() for a in again] == [a.model_dump() for a in first]
    edited = [(None, texts[0]), (None, texts[1] + " She wrote to Mrs. Ashcombe."), (None, texts[2])]
    seen = []
    annotations = nlp.annotate_book(writer_a.id, book_id, edited, progress=lambda n, t, m: seen.append(m))
    assert seen == ["Reading (cached)", "Reading the book", "Reading (cached)"]
    assert "Mrs. Ashcombe" in {m.text for m in annotations[1].mentions}
    with unit_of_work(writer_a.id) as session:
        assert session.scalar(select(func.count()).select_from(NlpAnnotation)
                              .where(NlpAnnotation.book_id == book_id)) == 4


def test_annotation_cache_is_private_to_its_writer(writer_a, writer_b):
    with unit_of_work(writer_a.id) as session:
        book = Book(user_id=writer_a.id, title="Private")
        session.add(book)
        session.flush()
        book_id = book.id
    nlp.annotate_book(writer_a.id, book_id, [(None, TEXT)])
    with unit_of_work(writer_b.id) as session:
        assert session.scalar(select(func.count()).select_from(NlpAnnotation)) == 0
    with unit_of_work(writer_a.id) as session:
        assert session.scalar(select(func.count()).select_from(NlpAnnotation)) == 1


def test_annotations_cannot_point_at_someone_elses_book(writer_a, writer_b):
    with unit_of_work(writer_b.id) as session:
        book = Book(user_id=writer_b.id, title="B's")
        session.add(book)
        session.flush()
        others_book = book.id
    with pytest.raises(Exception, match="fk_nlp_annotations_book_owner|violates foreign key"):
        nlp.annotate_book(writer_a.id, others_book, [(None, TEXT)])
