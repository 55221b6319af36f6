"""Every test gets its own EMBER_HOME in a tmpdir, so no test touches a real home."""

from __future__ import annotations

import pytest

ENV_VARS = (
    "EMBER_PROVIDER", "EMBER_BASE_URL", "EMBER_API_KEY", "EMBER_MODEL", "EMBER_WORKSPACE",
    "EMBER_MAX_STEPS", "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "EMBER_DEBUG",
)


@pytest.fixture(autouse=True)
def ember_home(tmp_path, monkeypatch):
    home = tmp_path / "ember-home"
    home.mkdir()
    for var in ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("EMBER_HOME", str(home))
    return home
