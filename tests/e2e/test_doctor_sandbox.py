"""`ember doctor` says whether commands run in the sandbox, and how to get one where they do not."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from ember.security.sandbox import bwrap_problem


def _sandbox_check(result) -> dict:
    return next(c for c in json.loads(result.stdout)["checks"] if c["name"] == "sandbox")


@pytest.mark.skipif(bwrap_problem() is not None, reason="bubblewrap cannot run here")
def test_doctor_reports_the_sandbox(ember, fake):
    ember.point_at(fake)
    check = _sandbox_check(ember("doctor", "--json", "--offline"))
    assert check["ok"] and "bubblewrap" in check["detail"] and "with network" in check["detail"]


def test_doctor_without_bubblewrap_says_commands_ask_and_how_to_fix(ember, fake):
    ember.point_at(fake)
    ember.env["PATH"] = str(Path(sys.executable).parent)  # a PATH without bwrap
    result = ember("doctor", "--json", "--offline")
    check = _sandbox_check(result)
    assert result.returncode == 1 and not check["ok"]
    assert "not read-only asks first" in check["detail"] and "apt install bubblewrap" in check["fix"]


def test_doctor_with_the_sandbox_turned_off_is_not_a_failure(ember, fake):
    ember.point_at(fake)
    ember.config('[sandbox]\nmode = "none"\n')
    check = _sandbox_check(ember("doctor", "--json", "--offline"))
    assert check["ok"] and check["detail"].startswith("off (") and "asks first" in check["detail"]
