"""Test harness: one real embedded Postgres per run, migrated once; each test rolled back unless marked `committed`."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

# Before anything reads settings: tests get their own data directory (and so their own server).
if not os.environ.get("DATABASE_URL") and not os.environ.get("PLOTSTUDIO_TEST_RUN"):
    os.environ["PLOTSTUDIO_DATA_DIR"] = tempfile.mkdtemp(prefix="plotstudio-test-")
    os.environ["PLOTSTUDIO_TEST_RUN"] = "1"
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ["IN_PROCESS_WORKER"] = "false"  # tests start the workers they need
for key in ("LLM_API_KEY", "LLM_BASE_URL", "EMBEDDING_BASE_URL", "IMAGE_BASE_URL"):
    os.environ.pop(key, None)

from support import CORPUS, make_writer


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "committed: the test commits for real (other processes must see its rows)")
    config.addinivalue_line("markers", "browser: drives the app in headless Chromium")


@pytest.fixture(scope="session")
def database() -> str:
    """The migrated test database; yields the owner URL."""
    from db import migrate
    from db.engine import owner_url

    migrate.upgrade()
    return owner_url()


@pytest.fixture(autouse=True)
def _isolated(request: pytest.FixtureRequest) -> None:
    """Run the test's units of work as savepoints inside one transaction rolled back at the end."""
    if request.node.get_closest_marker("committed") or "database" not in request.fixturenames \
            and not _uses_db(request):
        yield
        return
    request.getfixturevalue("database")
    from db.engine import app_engine, bind_sessions_to

    with app_engine().connect() as connection:
        transaction = connection.begin()
        with bind_sessions_to(connection):
            yield
        transaction.rollback()


def _uses_db(request: pytest.FixtureRequest) -> bool:
    return any(name in request.fixturenames for name in ("writer_a", "writer_b", "db_connection"))


@pytest.fixture
def writer_a(database):
    return make_writer("a")


@pytest.fixture
def writer_b(database):
    return make_writer("b")


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """A private copy of the corpus that ships in tests/corpus."""
    target = tmp_path / "corpus"
    shutil.copytree(CORPUS, target)
    return target
