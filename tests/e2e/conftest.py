"""Helpers to run the real `ember` executable against the fake model servers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fakes.openai_server import FakeOpenAI

EMBER = str(Path(sys.executable).parent / "ember")


class EmberRunner:
    def __init__(self, home: Path, workspace: Path) -> None:
        self.home = home
        self.workspace = workspace
        self.env = {k: v for k, v in os.environ.items()}
        self.env.update({"EMBER_HOME": str(home), "EMBER_WORKSPACE": str(workspace), "NO_COLOR": "1"})

    def point_at(self, fake, provider: str = "openai", **extra: str) -> None:
        self.env.update({"EMBER_PROVIDER": provider, "EMBER_BASE_URL": fake.base_url, "EMBER_MODEL": "fake-model"})
        self.env.update(extra)

    def config(self, text: str) -> None:
        (self.home / "config.toml").write_text(text)

    def __call__(self, *args: str, input: str | None = None, timeout: float = 30) -> subprocess.CompletedProcess:
        return subprocess.run(
            [EMBER, *args], env=self.env, input=input, capture_output=True, text=True, timeout=timeout,
            cwd=self.workspace,
        )

    def popen(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen(
            [EMBER, *args], env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            stdin=subprocess.DEVNULL, cwd=self.workspace,
        )

    def json(self, *args: str) -> dict:
        result = self(*args)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)


@pytest.fixture
def ember(ember_home, tmp_path) -> EmberRunner:
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    return EmberRunner(ember_home, workspace)


@pytest.fixture
def fake():
    with FakeOpenAI() as server:
        yield server
