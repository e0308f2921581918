"""Citations: for each field, the chunks it rests on and the sentence quoted from each (an exact substring)."""

from __future__ import annotations

import re

import numpy as np

from core.artefacts import Citation
from core.engines.reading import ChunkText, sentences

_WORD = re.compile(r"[a-z]{3,}")
_STOP = set("the and that with for was his her she him had not but you are this from have they which were been "
            "their would there what all when who will more one said could into them than then its our out any".split())


def _words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP}


def best_sentence(chunk_text: str, about: str) -> str:
    """The chunk's sentence sharing most words with `about` (first long one when none share any)."""
    wanted = _words(about)
    candidates = [s for s in sentences(chunk_text) if len(s) <= 400] or [chunk_text.strip()[:300].strip()]
    return max(candidates, key=lambda s: (len(wanted & _words(s)), -abs(len(s) - 160)))


def cite(chunks: list[ChunkText], about: str, *, limit: int = 2) -> list[Citation]:
    """Citations of up to `limit` chunks, each quoting its sentence closest to `about`."""
    seen, out = set(), []
    for chunk in chunks:
        if chunk.id in seen:
            continue
        seen.add(chunk.id)
        out.append(Citation(chunk_id=chunk.id, chapter_number=chunk.chapter_number,
                            quote=best_sentence(chunk.text, about)))
        if len(out) == limit:
            break
    return out


def nearest(chunks: list[ChunkText], vector: np.ndarray, k: int) -> list[tuple[ChunkText, float]]:
    """The k chunks whose embeddings are closest (cosine) to the vector."""
    indexed = [c for c in chunks if c.embedding is not None and c.embedding.shape == vector.shape]
    if not indexed:
        return []
    matrix = np.stack([c.embedding for c in indexed])
    scores = matrix @ vector / (np.linalg.norm(matrix, axis=1) * (np.linalg.norm(vector) or 1) + 1e-9)
    order = np.argsort(-scores)[:k]
    return [(indexed[i], float(scores[i])) for i in order]
