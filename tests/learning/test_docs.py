"""The Python examples in docs/learning.md and docs/skills.md run as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"


@pytest.mark.parametrize("name", ["learning.md", "skills.md"])
def test_doc_examples_run(name, tmp_path, monkeypatch, capsys):
    doc = DOCS / name
    blocks = re.findall(r"```python\n(.*?)```", doc.read_text(), re.S)
    assert blocks
    monkeypatch.chdir(tmp_path)
    for block in blocks:
        exec(compile(block, str(doc), "exec"), {"__name__": "docs_example"})
    if name == "learning.md":
        assert "include the totals row" in capsys.readouterr().out


def test_every_memory_setting_is_documented():
    from ember.memory.learning.wiring import LearningConfig

    text = (DOCS / "learning.md").read_text()
    for setting in vars(LearningConfig()):
        assert re.search(rf"^{setting} = ", text, re.M), setting
