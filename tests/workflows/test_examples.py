"""The examples stay runnable: their config snippets load, their scripts parse, their links resolve."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from ember.config import load_settings

ROOT = Path(__file__).resolve().parents[2]
PAGES = [*sorted((ROOT / "examples").glob("*.md")), ROOT / "docs" / "workflows.md"]


def test_every_workflow_has_a_page_a_script_and_a_test():
    for name in ("github_triage", "literature_review", "build_project"):
        assert (ROOT / "examples" / f"{name}.md").is_file()
        assert os.access(ROOT / "examples" / f"{name}.sh", os.X_OK)
    tests = {"test_github_triage.py", "test_literature_review.py", "test_build_project.py"}
    assert tests <= {p.name for p in (ROOT / "tests" / "workflows").iterdir()}


@pytest.mark.parametrize("script", sorted((ROOT / "examples").glob("*.sh")), ids=lambda p: p.name)
def test_scripts_parse(script):
    assert subprocess.run(["bash", "-n", str(script)], capture_output=True).returncode == 0


def test_config_snippets_load(tmp_path):
    blocks = [b for page in PAGES for b in re.findall(r"```toml\n(.*?)```", page.read_text(), re.S)]
    assert blocks
    for number, block in enumerate(blocks):
        home = tmp_path / str(number)
        home.mkdir()
        (home / "config.toml").write_text(block)
        load_settings(home, env={"EMBER_HOME": str(home)})


def test_links_resolve():
    for page in PAGES:
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", page.read_text()):
            assert (page.parent / target).exists(), f"{page.name}: {target}"
