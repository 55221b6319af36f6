"""Every test gets its own EMBER_HOME in a tmpdir, so no test touches a real home."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.postgres_server import PostgresServer, unavailable
from tests.store_backends import STORE_BACKENDS, StoreBackend

ENV_VARS = (
    "EMBER_PROVIDER", "EMBER_BASE_URL", "EMBER_API_KEY", "EMBER_MODEL", "EMBER_WORKSPACE",
    "EMBER_MAX_STEPS", "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "EMBER_DEBUG", "EMBER_DATABASE_URL",
)


@pytest.fixture(autouse=True)
def ember_home(tmp_path, monkeypatch):
    home = tmp_path / "ember-home"
    home.mkdir()
    for var in ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("EMBER_HOME", str(home))
    return home


def pytest_configure(config):
    config.addinivalue_line("markers", "sqlite_only: looks inside SQLite itself; runs on the SQLite backend only")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A real PostgreSQL server for the whole run (tests/postgres_server.py), started on first use."""
    reason = unavailable()
    if reason:
        pytest.skip(reason)
    server = PostgresServer().start()
    yield server
    server.stop()


@pytest.fixture(params=STORE_BACKENDS)
def store_backend(request, ember_home, monkeypatch) -> Iterator[StoreBackend]:
    """Each store backend in turn (tests/store_backends.py): a test using it runs once per backend.
    On PostgreSQL, EMBER_DATABASE_URL names the database of the test's EMBER_HOME."""
    if request.param != "sqlite" and request.node.get_closest_marker("sqlite_only"):
        pytest.skip("looks inside SQLite")
    if request.param != "postgresql":
        yield StoreBackend(request.param)
        return
    backend = StoreBackend(request.param, request.getfixturevalue("postgres_server"))
    monkeypatch.setenv("EMBER_DATABASE_URL", backend.location(ember_home))
    try:
        yield backend
    finally:
        backend.cleanup()
