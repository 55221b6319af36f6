"""A third-party model adapter plugs in through the ember.providers entry-point group."""

from __future__ import annotations

import json
import textwrap

from tests.e2e.conftest import EmberRunner
from tests.fakes.openai_server import FakeOpenAI, Reply


def _plugin(tmp_path):
    """A real installed plugin: a module plus a dist-info with an ember.providers entry point."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "ember_echo_provider.py").write_text(textwrap.dedent('''
        from ember.models.openai_compat import OpenAICompatProvider

        class ShoutingProvider(OpenAICompatProvider):
            """An OpenAI-compatible endpoint whose answers are shouted."""

            def complete(self, messages, tools=None, **opts):
                completion = super().complete(messages, tools, **opts)
                completion.text = completion.text.upper()
                return completion
    '''))
    dist = site / "ember_echo_provider-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: ember-echo-provider\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[ember.providers]\nshouting = ember_echo_provider:ShoutingProvider\n")
    return site


def test_a_plugin_provider_is_used_by_name(ember_home, tmp_path):
    ember = EmberRunner(ember_home, tmp_path)
    ember.env["PYTHONPATH"] = str(_plugin(tmp_path))
    with FakeOpenAI([Reply(text="quiet words")]) as fake:
        (ember_home / "config.toml").write_text(
            f'[model]\nprovider = "shouting"\nbase_url = "{fake.base_url}"\nmodel = "m"\n[agent]\nstream = false\n')
        result = ember("run", "--json", "say something")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["answer"] == "QUIET WORDS"


def test_an_unknown_provider_names_the_known_ones(ember_home, tmp_path):
    ember = EmberRunner(ember_home, tmp_path)
    (ember_home / "config.toml").write_text('[model]\nprovider = "nope"\n')
    result = ember("run", "hi")
    assert result.returncode == 2 and "unknown provider 'nope'" in result.stderr and "anthropic" in result.stderr
