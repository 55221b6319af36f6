"""The registry's execute path, progressive disclosure, lazy toolsets and plugins."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import uuid

import pytest

from ember.models.base import Cancelled, ToolCall
from ember.security.approval import Approver
from ember.tools.builtin import builtin_registry
from ember.tools.registry import LOAD_TOOL, ToolContext, ToolError, ToolRegistry, ToolResult, tool

CORE_TOOLS = {"read_file", "write_file", "edit_file", "list_dir", "search_files", "shell"}


def names(schemas):
    return {s["name"] for s in schemas}


@pytest.fixture
def lazy_module(tmp_path, monkeypatch):
    """Write a real module on sys.path; return its (unique) name."""
    created = []

    def make(body: str) -> str:
        name = f"ember_test_toolset_{uuid.uuid4().hex[:8]}"
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(body))
        created.append(name)
        return name

    monkeypatch.syspath_prepend(str(tmp_path))
    yield make
    for name in created:
        sys.modules.pop(name, None)


HEAVY = """
from ember.tools.registry import ToolContext, tool

@tool
def weigh(ctx: ToolContext, item: str) -> str:
    '''Weigh an item.

    Args:
        item: What to weigh.
    '''
    return f"{item} weighs 3 kg"
"""


def test_malformed_call_is_passed_back(run, registry, ctx):
    call = ToolCall(id="1", name="read_file", raw_arguments="{bad json", error="arguments are not valid JSON: {bad")
    result = registry.execute(call, ctx)
    assert result.is_error and result.content == "arguments are not valid JSON: {bad"


def test_unknown_tool_names_close_matches(run):
    result = run("reed_file", path="x")
    assert result.is_error
    assert "Unknown tool 'reed_file'" in result.content and "read_file" in result.content


def test_namespaced_or_differently_cased_names_are_forgiven(run, workspace):
    (workspace / "a.txt").write_text("hello\n")
    assert "hello" in run("functions.read_file", path="a.txt").content
    assert "hello" in run("Read_File", path="a.txt").content


def test_invalid_arguments_show_the_signature(run):
    result = run("read_file", path="a.txt", offset="ten", colour="red")
    assert result.is_error
    assert "unknown argument 'colour'" in result.content
    assert "'offset' expected an integer" in result.content
    assert "read_file(path: string, offset?: integer, limit?: integer)" in result.content


def test_exceptions_become_error_results_and_cancel_propagates(ctx):
    registry = ToolRegistry()

    @tool
    def explode(kind: str) -> str:
        """Fail on purpose.

        Args:
            kind: Which failure.
        """
        if kind == "bug":
            raise ValueError("bad value")
        if kind == "model":
            raise ToolError("Try again with a smaller number.")
        if kind == "cancel":
            raise Cancelled()
        raise KeyboardInterrupt

    registry.add(explode)
    run = lambda kind: registry.execute(ToolCall("1", "explode", {"kind": kind}), ctx)  # noqa: E731
    assert run("bug") == ToolResult("explode failed: ValueError: bad value", is_error=True)
    assert run("model") == ToolResult("Try again with a smaller number.", is_error=True)
    with pytest.raises(Cancelled):
        run("cancel")
    with pytest.raises(KeyboardInterrupt):
        run("interrupt")


def test_return_values_and_truncation(workspace):
    registry = ToolRegistry()

    @tool(more_hint="Ask for a smaller page.")
    def produce(kind: str) -> object:
        """Produce output.

        Args:
            kind: What to return.
        """
        return {"big": "HEAD" + "x" * 50_000 + "TAIL", "none": None, "dict": {"a": [1, 2]}}[kind]

    registry.add(produce)
    ctx = ToolContext(workspace=workspace, max_output_chars=2000)
    big = registry.execute(ToolCall("1", "produce", {"kind": "big"}), ctx).content
    assert len(big) <= 2000
    assert big.startswith("HEAD") and big.endswith("TAIL")
    assert "characters cut from the middle (50,008 in all). Ask for a smaller page." in big
    assert registry.execute(ToolCall("1", "produce", {"kind": "none"}), ctx).content == "(no output)"
    assert json.loads(registry.execute(ToolCall("1", "produce", {"kind": "dict"}), ctx).content) == {"a": [1, 2]}


# --- approval through the registry ----------------------------------------------------------------


def approval_registry(calls: list):
    registry = ToolRegistry()

    @tool(needs_approval=lambda args, ctx: "launches rockets" if args["target"] == "moon" else None)
    def launch(target: str) -> str:
        """Launch.

        Args:
            target: Where to.
        """
        calls.append(target)
        return f"launched to {target}"

    registry.add(launch)
    return registry


def test_deny_mode_refuses_with_instructions(workspace):
    calls: list = []
    registry = approval_registry(calls)
    ctx = ToolContext(workspace=workspace, approver=Approver("deny"))
    assert not registry.execute(ToolCall("1", "launch", {"target": "mars"}), ctx).is_error
    result = registry.execute(ToolCall("2", "launch", {"target": "moon"}), ctx)
    assert result.is_error and calls == ["mars"]
    assert "launches rockets" in result.content and "--yes" in result.content
    assert "allow_commands" in result.content


def test_auto_and_interactive_approval(workspace):
    calls: list = []
    registry = approval_registry(calls)
    auto = ToolContext(workspace=workspace, approver=Approver("auto"))
    assert registry.execute(ToolCall("1", "launch", {"target": "moon"}), auto).content == "launched to moon"

    asked = []
    answers = iter(["deny", "once"])
    approver = Approver("interactive", ask=lambda req: asked.append(req) or next(answers))
    ctx = ToolContext(workspace=workspace, approver=approver, session_id="s1")
    refused = registry.execute(ToolCall("2", "launch", {"target": "moon"}), ctx)
    assert refused.is_error and "The user refused" in refused.content
    assert registry.execute(ToolCall("3", "launch", {"target": "moon"}), ctx).content == "launched to moon"
    assert [r.tool for r in asked] == ["launch", "launch"]
    assert asked[0].reason == "launches rockets" and asked[0].session_id == "s1"
    assert calls == ["moon", "moon"]


# --- progressive disclosure ---------------------------------------------------------------------


def test_first_request_carries_only_core(registry):
    schemas = registry.schemas(set())
    assert names(schemas) == CORE_TOOLS  # no other toolset here, so no tools_load either
    assert len(json.dumps(schemas)) < 4000  # about a thousand tokens for all of core
    for schema in schemas:
        assert len(schema["description"]) < 120


def test_lazy_toolset_loaded_on_demand(registry, ctx, lazy_module):
    module = lazy_module(HEAVY)
    registry.add_toolset("scales", "weigh things", modules=[module], tools=["weigh"])
    before = registry.schemas(ctx.loaded_toolsets)
    assert names(before) == CORE_TOOLS | {LOAD_TOOL}
    load_schema = next(s for s in before if s["name"] == LOAD_TOOL)
    assert load_schema["parameters"]["properties"]["toolset"]["enum"] == ["scales"]
    assert registry.index_lines(ctx.loaded_toolsets) == ["scales: weigh things (weigh)"]
    assert module not in sys.modules  # neither the index nor the schemas imported it

    result = registry.execute(ToolCall("1", LOAD_TOOL, {"toolset": "scales"}), ctx)
    assert not result.is_error and "scales: weigh" in result.content
    assert ctx.loaded_toolsets == {"scales"} and module in sys.modules
    after = registry.schemas(ctx.loaded_toolsets)
    assert names(after) == CORE_TOOLS | {"weigh"}
    assert registry.index_lines(ctx.loaded_toolsets) == []


def test_calling_a_tool_of_an_unloaded_toolset_loads_it(registry, ctx, lazy_module):
    registry.add_toolset("scales", "weigh things", modules=[lazy_module(HEAVY)], tools=["weigh"])
    result = registry.execute(ToolCall("1", "weigh", {"item": "apple"}), ctx)
    assert result.content == "apple weighs 3 kg"
    assert "scales" in ctx.loaded_toolsets
    assert registry.get("weigh").toolset == "scales"


def test_tools_load_unknown_and_broken_toolsets(registry, ctx, lazy_module):
    registry.add_toolset("broken", "needs an extra", modules=[lazy_module("import not_installed_pkg_xyz\n")])
    unknown = registry.execute(ToolCall("1", LOAD_TOOL, {"toolset": "nope"}), ctx)
    assert unknown.is_error and "Unknown toolset nope" in unknown.content and "broken" in unknown.content
    broken = registry.execute(ToolCall("2", LOAD_TOOL, {"toolset": "broken"}), ctx)
    assert broken.is_error and "not_installed_pkg_xyz" in broken.content
    assert "broken" not in {t.name for t in registry.toolsets()}  # not offered again
    assert registry.index_lines(set()) == []


def test_enable_patterns(registry, ctx, lazy_module):
    registry.add_toolset("scales", "weigh things", modules=[lazy_module(HEAVY)], tools=["weigh"])
    registry.enable(["*", "!shell", "!scales"])
    assert names(registry.schemas(set())) == CORE_TOOLS - {"shell"}
    assert registry.index_lines(set()) == []
    result = registry.execute(ToolCall("1", "shell", {"command": "echo hi"}), ctx)
    assert result.is_error and "disabled" in result.content
    registry.enable(["core", "weigh"])  # a single tool of a toolset
    assert registry.index_lines(set()) == ["scales: weigh things (weigh)"]


def test_entry_point_plugins_are_lazy(tmp_path, ctx, lazy_module):
    module = lazy_module(HEAVY)
    dist = tmp_path / "ember_scales-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: ember-scales\nVersion: 0.1\nSummary: Weigh things\n")
    (dist / "entry_points.txt").write_text(f"[ember.tools]\nscales = {module}\n")
    registry = builtin_registry()
    assert "scales: Weigh things" in registry.index_lines(set())
    assert module not in sys.modules
    assert registry.execute(ToolCall("1", "weigh", {"item": "pear"}), ctx).content == "pear weighs 3 kg"
    assert not any(line.startswith("scales") for line in registry.index_lines(ctx.loaded_toolsets))


def test_building_the_registry_imports_no_tool_module():
    code = (
        "import sys\n"
        "from ember.tools import builtin_registry\n"
        "r = builtin_registry()\n"
        "r.index_lines(set()); r.toolsets()\n"
        "print([m for m in ('ember.tools.files', 'ember.tools.shell', 'subprocess') if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
