"""The real `ember run` executable: it answers, learns before exiting, and the next run benefits."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.fakes.openai_server import FakeOpenAI
from tests.learning.scenarios import ClassifierModel, system_of

EMBER = str(Path(sys.executable).parent / "ember")


def ember_run(fake, home: Path, workspace: Path, *args: str) -> dict:
    env = {**os.environ, "EMBER_HOME": str(home), "EMBER_WORKSPACE": str(workspace), "EMBER_PROVIDER": "openai",
           "EMBER_BASE_URL": fake.base_url, "EMBER_MODEL": "fake-model", "NO_COLOR": "1"}
    result = subprocess.run([EMBER, "run", "--json", *args], env=env, capture_output=True, text=True, timeout=60,
                            cwd=workspace)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_ember_run_learns_a_correction_and_a_preference_for_the_next_run(ember_home, tmp_path):
    workspace = tmp_path / "ws"
    workspace.mkdir()
    with FakeOpenAI(responder=ClassifierModel()) as fake:
        day1 = ember_run(fake, ember_home, workspace, "Classify the severity of issue #12: 'Typo in the README footer'.")
        assert day1["answer"] == "Severity: high"
        ember_run(fake, ember_home, workspace, "--session", day1["session_id"],
                  "No, classify it as low severity, not high. Always answer in French.")
        day2 = ember_run(fake, ember_home, workspace, "Classify the severity of issue #31: 'Typo in the install docs'.")
        assert day2["answer"] == "Severity: low"
        system = system_of(fake.requests[-1])
        assert "Answer in French" in system and "classify it as low, not high" in system
