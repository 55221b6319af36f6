"""MCP servers as toolsets, against the fake Python server over stdio: lazy, namespaced, robust."""

from __future__ import annotations

import threading
import time

import pytest

from ember.models.base import Cancelled, ToolCall
from ember.tools.base import ToolContext
from ember.tools.builtin import builtin_registry
from tests.mcp.conftest import fake_stdio


def call(registry, ctx, tool, **arguments):
    return registry.execute(ToolCall(id="c1", name=tool, arguments=arguments), ctx)


@pytest.fixture
def ctx(tmp_path):
    return ToolContext(workspace=tmp_path / "ws")


def connection_of(registry, name):
    from ember.mcp.toolset import _connections

    return next(c for c in _connections[registry] if c.name == name)


def test_servers_are_one_index_line_each_and_start_on_first_use(configure, ctx):
    settings = configure(
        notes=fake_stdio(description="notes and sums"),
        other=fake_stdio(),
        off=fake_stdio(enabled=False),
    )
    registry = builtin_registry(settings)
    index = registry.index_lines()
    assert "notes: notes and sums" in index
    assert any(line.startswith("other: tools of the MCP server `") for line in index)
    assert not any(line.startswith("off:") for line in index)
    names = [s["name"] for s in registry.schemas()]
    assert not any("__" in n for n in names)  # no MCP schema is sent before the model asks
    load = next(s for s in registry.schemas() if s["name"] == "tools_load")
    assert {"notes", "other"} <= set(load["parameters"]["properties"]["toolset"]["enum"])
    notes, other = connection_of(registry, "notes"), connection_of(registry, "other")
    assert not notes.started and not other.started

    # An unknown tool name starts nothing.
    result = call(registry, ctx, "made_up_tool")
    assert result.is_error and "Unknown tool" in result.content
    assert not notes.started and not other.started

    # Calling a namespaced tool starts only its server, then loads its toolset for the session.
    result = call(registry, ctx, "notes__add", a="2", b=3)
    assert (result.content, result.is_error) == ("5", False)
    assert notes.started and not other.started
    assert "notes" in ctx.loaded_toolsets
    schemas = {s["name"]: s for s in registry.schemas(ctx.loaded_toolsets)}
    assert schemas["notes__add"]["parameters"]["properties"]["a"]["type"] == "integer"
    assert "$schema" not in schemas["notes__add"]["parameters"]
    assert {"notes__list_resources", "notes__read_resource", "notes__get_prompt"} <= set(schemas)
    assert not any(n.startswith("other__") for n in schemas)


def test_results_text_images_errors_resources_prompts(configure, ctx):
    registry = builtin_registry(configure(notes=fake_stdio()))
    loaded = call(registry, ctx, "tools_load", toolset="notes")
    assert not loaded.is_error and "notes__add" in loaded.content and "notes__echo" in loaded.content
    assert "notes" in ctx.loaded_toolsets
    assert call(registry, ctx, "notes__echo", text="héllo").content == "héllo"

    image = call(registry, ctx, "notes__image")
    assert not image.is_error and image.images and image.images[0].startswith("data:image/png;base64,iVBOR")
    assert "[image 1: image/png, attached]" in image.content

    failed = call(registry, ctx, "notes__fail", message="the disk is full")
    assert failed.is_error and "the disk is full" in failed.content

    bad_args = call(registry, ctx, "notes__add", a="two", b=1)
    assert bad_args.is_error and "'a' expected an integer" in bad_args.content

    listing = call(registry, ctx, "notes__list_resources").content
    assert "note://greeting" in listing and "note://items/{item_id}" in listing
    item = call(registry, ctx, "notes__read_resource", uri="note://items/42")
    assert item.content.endswith("Item 42") and not item.is_error
    missing = call(registry, ctx, "notes__read_resource", uri="note://nothing/here")
    assert missing.is_error and "notes" in missing.content

    prompt = call(registry, ctx, "notes__get_prompt", name="review", arguments={"topic": "the plan"})
    assert "Please review the plan carefully." in prompt.content
    get_prompt = registry.get("notes__get_prompt")
    assert "review(topic)" in get_prompt.description


def test_a_crashed_server_is_restarted_once_and_the_model_is_told(configure, ctx):
    registry = builtin_registry(configure(notes=fake_stdio()))
    assert call(registry, ctx, "notes__add", a=1, b=1).content == "2"
    assert call(registry, ctx, "notes__count").content == "1"

    crashed = call(registry, ctx, "notes__crash")
    assert crashed.is_error
    assert "stopped during tool crash" in crashed.content and "restarted" in crashed.content
    # A fresh process answers: its call count starts again.
    assert call(registry, ctx, "notes__count").content == "0"

    again = call(registry, ctx, "notes__crash")
    assert again.is_error and "stays stopped" in again.content
    after = call(registry, ctx, "notes__add", a=1, b=1)
    assert after.is_error and "stays stopped" in after.content


def test_a_slow_call_times_out_and_the_server_keeps_working(configure, ctx):
    registry = builtin_registry(configure(notes=fake_stdio(timeout=0.5)))
    started = time.monotonic()
    slow = call(registry, ctx, "notes__slow", seconds=15)
    assert time.monotonic() - started < 8
    assert slow.is_error and "did not answer tool slow within 0.5 s" in slow.content
    assert call(registry, ctx, "notes__add", a=2, b=2).content == "4"


def test_cancel_stops_a_running_call(configure, ctx):
    registry = builtin_registry(configure(notes=fake_stdio()))
    assert call(registry, ctx, "notes__add", a=1, b=1).content == "2"
    threading.Timer(0.3, ctx.cancel.set).start()
    started = time.monotonic()
    with pytest.raises(Cancelled):
        call(registry, ctx, "notes__slow", seconds=30)
    assert time.monotonic() - started < 10


def test_env_secrets_reach_the_server_but_never_the_model(configure, ctx, ember_home, monkeypatch):
    (ember_home / ".env").write_text("NOTES_TOKEN=tok-from-dotenv-123\n")
    monkeypatch.setenv("SHELL_ONLY_TOKEN", "tok-from-environ-456")
    monkeypatch.setenv("EMBER_LEAK_CHECK", "inherited?")
    registry = builtin_registry(configure(notes=fake_stdio(env={"A": "${NOTES_TOKEN}", "B": "${SHELL_ONLY_TOKEN}"})))
    assert call(registry, ctx, "notes__env", name="A").content == "[REDACTED]"
    assert call(registry, ctx, "notes__env", name="B").content == "[REDACTED]"
    # Only the configured variables (and a safe base such as PATH) reach the server.
    assert call(registry, ctx, "notes__env", name="EMBER_LEAK_CHECK").content == "(unset)"


def test_a_server_that_cannot_start_is_reported_and_the_rest_work(configure, ctx, ember_home):
    registry = builtin_registry(configure(
        broken={"command": "sh", "args": ["-c", "echo 'missing config file' >&2; exit 1"]},
        notes=fake_stdio(),
    ))
    result = call(registry, ctx, "tools_load", toolset="broken")
    assert result.is_error and "Toolset broken is unavailable" in result.content
    assert "missing config file" in result.content
    assert (ember_home / "logs" / "mcp-broken.log").exists()
    assert call(registry, ctx, "notes__add", a=1, b=2).content == "3"


def test_a_missing_secret_is_named_without_starting_anything(configure, ctx):
    registry = builtin_registry(configure(notes=fake_stdio(env={"A": "${NOT_SET_ANYWHERE}"})))
    result = call(registry, ctx, "tools_load", toolset="notes")
    assert result.is_error and "${NOT_SET_ANYWHERE}, which is not set" in result.content


def test_closing_the_runtime_stops_its_servers(configure):
    from ember.runtime import build_runtime

    runtime = build_runtime(configure(notes=fake_stdio()), interactive=False)
    ctx = runtime.agent.tool_context(runtime.agent.new_session())
    pid = int(call(runtime.agent.registry, ctx, "notes__pid").content)
    runtime.close()
    deadline = time.monotonic() + 5
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(pid)


def _alive(pid: int) -> bool:
    import os

    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purposes (its parent, the SDK, reaps it).
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def test_names_are_valid_and_unique():
    from ember.mcp.toolset import tool_name

    taken: set[str] = set()
    assert tool_name("gh", "create-issue", taken) == "gh__create-issue"
    assert tool_name("gh", "repo.list", taken) == "gh__repo_list"
    assert tool_name("gh", "repo/list", taken) == "gh__repo_list_2"
    long = tool_name("gh", "x" * 100, taken)
    assert len(long) <= 64 and long.startswith("gh__x")
