"""Every config.toml example in docs/models.md loads with the real settings loader."""

import re
from pathlib import Path

import pytest

from ember.config import load_settings

DOC = Path(__file__).resolve().parents[2] / "docs" / "models.md"
BLOCKS = re.findall(r"```toml\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)


def test_the_doc_has_examples():
    assert len(BLOCKS) >= 9


@pytest.mark.parametrize("block", BLOCKS)
def test_toml_example_loads(tmp_path, block):
    (tmp_path / "config.toml").write_text(block, encoding="utf-8")
    settings = load_settings(tmp_path, env={"OPENROUTER_API_KEY": "or-key-123456", "ANTHROPIC_API_KEY": "ant-123456"})
    assert settings.default_model.model
    for name in settings.fallback:
        assert name in settings.models
