"""Time langchain_postgres.PGVector.add_embeddings on precomputed vectors (runs in bench/.venv only)."""

import json
import sys
import time

import numpy as np
from langchain_core.embeddings import Embeddings
from langchain_postgres import PGVector


class Precomputed(Embeddings):
    """PGVector wants an embedder; every vector here is already computed."""

    def embed_documents(self, texts):
        raise NotImplementedError

    def embed_query(self, text):
        raise NotImplementedError


def main(url: str, payload_path: str, vectors_path: str, runs: str, books: str = "1") -> None:
    """Each run: a fresh collection, then `books` calls of add_embeddings (one per novel of a shelf)."""
    payload = json.load(open(payload_path))
    vectors = np.load(vectors_path).tolist()
    seconds = []
    for run in range(int(runs)):
        store = PGVector(Precomputed(), connection=url, collection_name=f"bench_ingest_{run}_{books}", use_jsonb=True,
                         pre_delete_collection=True)
        started = time.perf_counter()
        for _ in range(int(books)):
            store.add_embeddings(payload["texts"], vectors, metadatas=payload["metadatas"])
        seconds.append(time.perf_counter() - started)
    print(json.dumps({"seconds": seconds, "rows": len(vectors) * int(books)}))


if __name__ == "__main__":
    main(*sys.argv[1:6])
