from tests.e2e.conftest import ember, fake  # noqa: F401 - the shared fixtures
