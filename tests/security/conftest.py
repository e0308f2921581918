"""What the security suite shares: a raw app-role connection, a loopback embeddings endpoint, and the
figures the suite prints at the end (pairs tried, hostile files and their peak memory, fuzz examples)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

# Filled in by the tests, printed once at the end of the run.
FIGURES: dict[str, list[str]] = {"isolation": [], "hostile uploads": [], "fuzzing": []}


def record(section: str, line: str) -> None:
    FIGURES[section].append(line)
    print(line)


def pytest_terminal_summary(terminalreporter) -> None:
    if not any(FIGURES.values()):
        return
    terminalreporter.section("security figures")
    for section, lines in FIGURES.items():
        for line in lines:
            terminalreporter.write_line(f"{section}: {line}")


@pytest.fixture
def app_connection(database) -> Iterator:
    """A raw connection as the app role, in a transaction rolled back at the end (what an attacker holding
    the app's credentials, or an SQL injection, would have)."""
    from db.engine import app_url

    engine = create_engine(app_url(), poolclass=NullPool)
    with engine.connect() as conn:
        transaction = conn.begin()
        yield conn
        transaction.rollback()
    engine.dispose()


@pytest.fixture(scope="module")
def stub_embeddings() -> Iterator:
    """EMBEDDING_BASE_URL on a loopback OpenAI-protocol stub for the whole module: no model to load."""
    from core.config import get_settings
    from openai_stub import OpenAIStub

    saved = {key: os.environ.get(key) for key in ("EMBEDDING_BASE_URL", "EMBEDDING_MODEL")}
    with OpenAIStub(width=64) as stub:
        os.environ["EMBEDDING_BASE_URL"], os.environ["EMBEDDING_MODEL"] = stub.url, "hashed-words-64"
        get_settings.cache_clear()
        yield stub
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        get_settings.cache_clear()
