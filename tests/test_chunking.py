"""Chunks point exactly into their chapter, cover all of it and stay inside the embedder's window."""

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from core.ingest.chunking import MAX_TOKENS, MODEL_WINDOW, chunk_text, count_wordpieces

words = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12)
separators = st.sampled_from([" ", " ", " ", "\n", "\n\n", ". ", "! ", "? ", ".\n\n", "  \t", "Mr. ", "\n \n"])
prose = st.lists(st.tuples(words, separators), max_size=400).map(lambda parts: "".join(a + b for a, b in parts))
any_text = st.one_of(prose, st.text(max_size=3000))


def _assert_exact_and_covering(text: str, spans) -> None:
    covered = bytearray(len(text))
    for span in spans:
        assert span.text == text[span.char_start:span.char_end]
        assert 0 <= span.char_start < span.char_end <= len(text)
        covered[span.char_start:span.char_end] = b"\x01" * (span.char_end - span.char_start)
    uncovered = [char for char, hit in zip(text, covered) if not hit and not char.isspace()]
    assert uncovered == []


@settings(max_examples=300, deadline=None)
@given(any_text)
def test_spans_are_exact_slices_covering_all_text(text):
    spans = chunk_text(text, target_tokens=40, max_tokens=60, overlap_tokens=10)
    _assert_exact_and_covering(text, spans)
    assert [s.ordinal for s in spans] == list(range(len(spans)))
    assert all(s.token_count == count_wordpieces(s.text) for s in spans)


@settings(max_examples=200, deadline=None)
@given(prose)
def test_chunks_advance_and_respect_the_token_limit(text):
    spans = chunk_text(text, target_tokens=40, max_tokens=60, overlap_tokens=10)
    assert all(a.char_start < b.char_start and a.char_end < b.char_end for a, b in zip(spans, spans[1:]))
    assert all(s.token_count <= 60 for s in spans)  # word pieces add up exactly: none span whitespace


def test_whitespace_only_text_has_no_chunks():
    assert chunk_text("") == []
    assert chunk_text(" \n\n\t ") == []


def test_paragraphs_are_kept_whole_when_they_fit():
    paragraphs = [f"Paragraph {i} says one thing. It then says another thing." for i in range(30)]
    text = "\n\n".join(paragraphs)
    spans = chunk_text(text, target_tokens=50, max_tokens=80, overlap_tokens=0)
    assert len(spans) > 1
    for span in spans:
        assert span.text.startswith("Paragraph") and span.text.endswith("thing.")


def test_long_paragraph_is_cut_at_sentences_with_one_sentence_of_overlap():
    sentences = [f"Sentence number {i} is here." for i in range(60)]
    spans = chunk_text(" ".join(sentences), target_tokens=50, max_tokens=70, overlap_tokens=8)  # 6 pieces each
    assert len(spans) > 2
    for first, second in zip(spans, spans[1:]):
        assert first.text.endswith(".") and second.text.startswith("Sentence")
        assert first.char_end > second.char_start  # the last sentence is repeated
        assert first.text.endswith(second.text.split(". ")[0] + ".")


def test_abbreviations_do_not_end_sentences():
    text = " ".join(["Mr. Darcy looked at Mrs. Bennet."] * 40)
    spans = chunk_text(text, target_tokens=30, max_tokens=40, overlap_tokens=10)
    assert all(span.text.startswith("Mr. Darcy") for span in spans)


def test_a_novel_chunks_inside_the_model_window(corpus):
    text = (corpus / "pride_and_prejudice.txt").read_text()
    spans = chunk_text(text)
    _assert_exact_and_covering(text, spans)
    assert 600 < len(spans) < 1200
    assert max(s.token_count for s in spans) <= MAX_TOKENS


def _rare_words(seed: int, count: int) -> str:
    """Prose made of words MiniLM has never seen: invented names, accents, digits, symbols, other scripts."""
    rng = random.Random(seed)
    alphabet = "bcdfghjklmnpqrstvwxzéüøłŋçñ"
    words = []
    for _ in range(count):
        kind = rng.random()
        if kind < 0.5:
            words.append("".join(rng.choice(alphabet) for _ in range(rng.randint(6, 16))))
        elif kind < 0.7:
            words.append(str(rng.randint(10**6, 10**14)))
        elif kind < 0.8:
            words.append(rng.choice(["東京都", "Ωμέγα", "ﬁnance", "x²+y²", "§§§", "——", "naïveté"]))
        else:
            words.append(rng.choice(["the", "and", "she", "said", "of"]))
        if rng.random() < 0.08:
            words[-1] += rng.choice([".", "!", "?", ".\n\n"])
    return " ".join(words)


def test_chunks_of_rare_words_fit_the_models_window_in_its_own_tokenizer():
    from core.embeddings import packaged_model

    model = packaged_model()
    assert model.max_seq_length == MODEL_WINDOW
    text = "\n\n".join(_rare_words(seed, 400) for seed in range(6))
    spans = chunk_text(text)
    _assert_exact_and_covering(text, spans)
    # What sentence-transformers itself feeds the model: [CLS] + pieces + [SEP], never truncated.
    lengths = [len(model.tokenizer(span.text)["input_ids"]) for span in spans]
    assert max(lengths) <= MODEL_WINDOW
    assert max(lengths) > MODEL_WINDOW * 0.8  # chunks fill the window, not a token count in other units
    assert lengths == [span.token_count + 2 for span in spans]
