"""Before a terminal turn starts: a model that can answer, and the folder the tools work in.

``ember`` and ``ember run`` check at start that the model has the API key its endpoint needs (a
local server needs none) and say so at once, instead of failing after the first message. No
request is sent here: whether the endpoint answers is ``ember doctor``'s question.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from ember.cli.errors import CliError

if TYPE_CHECKING:
    from ember.config import Settings
    from ember.runtime import Runtime


def model_problem(settings: Settings) -> str | None:
    """Why the model of the ``chat`` route cannot answer (no API key for a hosted API), or None."""
    from ember.config import missing_key_message

    spec = settings.model_for("chat")
    problem = missing_key_message(spec)
    if problem is None:
        return None
    if spec.name != "default":
        return f"no usable model: {problem}"
    from ember.config import well_known_key_env

    variables = " or ".join(["EMBER_API_KEY", *filter(None, [well_known_key_env(spec.base_url)])])
    return (f"no usable model: {spec.provider}:{spec.model} at {spec.base_url} needs an API key, "
            f"and none is set ({variables})")


def ways_to_configure(settings: Settings) -> str:
    """The three ways to configure a model, as the hint under an error."""
    home = settings.home
    return "\n".join([
        "configure a model in one of three ways:",
        "    1. `ember setup`: finds a local server (Ollama, llama.cpp, LM Studio, vLLM) or sets up a hosted API",
        "    2. environment variables EMBER_PROVIDER, EMBER_BASE_URL, EMBER_MODEL (and EMBER_API_KEY for a "
        "hosted API), e.g.",
        "       EMBER_PROVIDER=openai EMBER_BASE_URL=http://127.0.0.1:11434/v1 EMBER_MODEL=qwen2.5:7b ember",
        f"    3. a [model] table in {home / 'config.toml'}, and the key as EMBER_API_KEY=... in {home / '.env'}",
        "    (docs/configuration.md)",
    ])


def ready_settings(model_name: str | None, *, offer_setup: bool = False) -> Settings:
    """The settings of a terminal door (tools in the current directory), with a usable model.

    Without one: in a terminal (``offer_setup``) offer to run ``ember setup`` now and go on with
    what it wrote; otherwise a usage error (exit code 2) that lists the ways to configure one.
    """
    from ember.config import load_settings
    from ember.runtime import apply_model_choice

    settings = load_settings(default_workspace="cwd")
    apply_model_choice(settings, model_name)
    problem = model_problem(settings)
    if problem and offer_setup and _run_setup(problem):
        settings = load_settings(default_workspace="cwd")
        apply_model_choice(settings, model_name)
        problem = model_problem(settings)
    if problem:
        raise CliError(problem, ways_to_configure(settings))
    return settings


def _run_setup(problem: str) -> bool:
    """Ask whether to run ``ember setup`` now; True when it ran."""
    import click

    click.echo(f"ember: {problem}", err=True)
    if not click.confirm("Run `ember setup` now?", default=True, err=True):
        return False
    from ember.cli.setup import setup

    click.get_current_context().invoke(setup)
    return True


def workspace_created(runtime: Runtime) -> None:
    """Say on stderr (one line) that the configured workspace folder was just created."""
    if runtime.created_workspace is not None:
        source = runtime.settings.workspace_from or "the configuration"
        sys.stderr.write(f"ember: created the workspace folder {runtime.created_workspace} (set by {source})\n")
        sys.stderr.flush()
