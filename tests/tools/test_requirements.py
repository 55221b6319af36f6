"""Tools that need an optional package: declared, shown as not ready, never offered to the model.

And MCP servers that cannot start: a row in `ember tools list`, one clean warning line in `ember run`.
"""

from __future__ import annotations

import importlib
import json
import re
import sys
import textwrap
import tomllib
import uuid
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

from ember.config import load_settings
from ember.models.base import ToolCall
from ember.tools.base import Tool, needs_extra, tool
from ember.tools.builtin import BUILTIN_TOOLSETS, TOOLSET_REQUIRES, builtin_registry
from ember.tools.registry import LOAD_TOOL, ToolContext, ToolRegistry
from tests.e2e.conftest import EmberRunner
from tests.fakes.openai_server import FakeOpenAI, Reply

ROOT = Path(__file__).resolve().parents[2]
ABSENT = "ember_absent_pkg_" + uuid.uuid4().hex[:8]  # a module no environment has
HINT = "pip install 'ember-agent[browser]'"


@tool(toolset="gadgets", requires=(needs_extra(ABSENT, "browser"),))
def gadget_zap(text: str) -> str:
    """Zap some text with the absent package.

    Args:
        text: What to zap.
    """
    return importlib.import_module(ABSENT).zap(text)


@tool(toolset="gadgets")
def gadget_echo(text: str) -> str:
    """Echo text back.

    Args:
        text: What to echo.
    """
    return text


def _names(schemas) -> set[str]:
    return {s["name"] for s in schemas}


@pytest.fixture
def ctx(tmp_path) -> ToolContext:
    return ToolContext(workspace=tmp_path)


def test_a_tool_whose_module_is_missing_is_not_ready_and_not_offered(ctx):
    registry = ToolRegistry()
    registry.add(gadget_echo)
    registry.add(gadget_zap)
    assert registry.missing(gadget_zap) == [f"{ABSENT} ({HINT})"]
    assert registry.missing(gadget_echo) == []
    assert ABSENT not in sys.modules

    loaded = registry.execute(ToolCall("1", LOAD_TOOL, {"toolset": "gadgets"}), ctx)
    assert not loaded.is_error
    assert "gadget_echo" in loaded.content and f"not available here: gadget_zap (needs {ABSENT} ({HINT}))" in loaded.content
    offered = _names(registry.schemas(ctx.loaded_toolsets))
    assert "gadget_echo" in offered and "gadget_zap" not in offered

    called = registry.execute(ToolCall("2", "gadget_zap", {"text": "x"}), ctx)
    assert called.is_error and "cannot run here" in called.content and HINT in called.content
    assert ABSENT not in sys.modules  # refused before the tool ran


def test_a_toolset_whose_requirement_is_missing_stays_out_of_the_index_without_being_imported(ctx):
    registry = ToolRegistry()
    module = "ember_never_imported_" + uuid.uuid4().hex[:8]  # importing it would fail loudly
    registry.add_toolset("heavy", "drives something heavy", modules=[module], tools=["heavy_go"],
                         requires=[needs_extra(ABSENT, "browser")])
    registry.add_toolset("light", "always works", modules=["ember.tools.planning"], tools=["todo", "clarify"])
    assert registry.index_lines() == ["light: always works (todo, clarify)"]
    enum = next(s for s in registry.schemas() if s["name"] == LOAD_TOOL)["parameters"]["properties"]["toolset"]["enum"]
    assert enum == ["light"]
    refused = registry.execute(ToolCall("1", LOAD_TOOL, {"toolset": "heavy"}), ctx)
    assert refused.is_error and f"it needs {ABSENT} ({HINT})" in refused.content
    assert registry._toolsets["heavy"].imported is False and "heavy" not in ctx.loaded_toolsets


def _plugin(tmp_path: Path) -> Path:
    """A real installed plugin: a module plus a dist-info with an ember.tools entry point."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "ember_gadgets_plugin.py").write_text(textwrap.dedent(f'''
        from ember.tools import tool
        from ember.tools.base import needs_extra

        @tool(requires=(needs_extra("{ABSENT}", "browser"),))
        def gadget_zap(text: str) -> str:
            """Zap some text.

            Args:
                text: What to zap.
            """
            import {ABSENT}
            return {ABSENT}.zap(text)

        @tool
        def gadget_echo(text: str) -> str:
            """Echo text back.

            Args:
                text: What to echo.
            """
            return text
    '''))
    dist = site / "ember_gadgets_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: ember-gadgets-plugin\nVersion: 0.1\nSummary: gadgets\n")
    (dist / "entry_points.txt").write_text("[ember.tools]\ngadgets = ember_gadgets_plugin\n")
    return site


@pytest.fixture
def ember(ember_home, tmp_path) -> EmberRunner:
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    return EmberRunner(ember_home, workspace)


def test_tools_list_shows_a_plugin_tool_with_a_missing_module_as_not_ready(ember, tmp_path):
    ember.env["PYTHONPATH"] = str(_plugin(tmp_path))
    listed = ember("tools", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = {r["name"]: r for r in json.loads(listed.stdout) if r["toolset"] == "gadgets"}
    assert rows["gadget_echo"]["available"] is True
    assert rows["gadget_zap"]["available"] is False and rows["gadget_zap"]["missing"] == [f"{ABSENT} ({HINT})"]
    table = ember("tools", "list")
    line = next(line for line in table.stdout.splitlines() if line.startswith("gadget_zap"))
    assert "no" in line and "yes" not in line


def _extras() -> dict[str, set[str]]:
    """pyproject's extras: name -> the distributions it installs (normalised)."""
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    return {extra: {re.split(r"[\[<>=!~ ;]", r, maxsplit=1)[0].lower().replace("_", "-") for r in reqs}
            for extra, reqs in data.items()}


def _builtin_tools() -> list[Tool]:
    registry = builtin_registry(plugins=False)
    return [t for name, *_ in BUILTIN_TOOLSETS for t in registry.tools_in(name)]


def test_builtin_tools_declare_requirements_that_match_pyproject_extras():
    extras = _extras()
    dists = packages_distributions()
    declared: dict[str, set[str]] = {}
    for item in _builtin_tools():
        for requirement in item.requires:
            if callable(requirement):
                continue
            found = re.fullmatch(r"module:([\w.]+) \(pip install 'ember-agent\[(\w+)\]'\)", requirement)
            assert found, f"{item.name}: {requirement!r} is not a module requirement with an extra's hint"
            module, extra = found.groups()
            assert extra in extras, f"{item.name}: no extra [{extra}] in pyproject.toml"
            providers = {d.lower().replace("_", "-") for d in dists.get(module.split(".")[0], [])}
            assert providers & extras[extra], f"{item.name}: [{extra}] does not install {module} ({providers})"
            declared.setdefault(item.name, set()).add(module)
    browser = {t for name, _, _, tools in BUILTIN_TOOLSETS if name == "browser" for t in tools}
    ssh = {"ssh_run", "ssh_upload", "ssh_download"}
    assert declared == {**dict.fromkeys(browser, {"playwright"}), **dict.fromkeys(ssh, {"asyncssh"}),
                        "read_pdf": {"pypdf"}, "web_extract": {"trafilatura"}}
    # A toolset-wide requirement (checked before import) is one every tool of that toolset declares.
    by_name = {t.name: t for t in _builtin_tools()}
    for toolset, requires in TOOLSET_REQUIRES.items():
        members = [t for name, _, _, tools in BUILTIN_TOOLSETS if name == toolset for t in tools]
        assert members and all(set(requires) <= set(by_name[t].requires) for t in members)


def test_web_search_needs_ddgs_only_for_the_duckduckgo_backend(ember_home):
    web_search = next(t for t in _builtin_tools() if t.name == "web_search")
    (check,) = web_search.requires
    (ember_home / "config.toml").write_text('[web]\nbackend = "searxng"\nsearxng_url = "http://127.0.0.1:9"\n')
    assert check(load_settings()) is None  # whatever is installed
    if importlib.util.find_spec("ddgs") is None:
        assert "ember-agent[web]" in check(None)


# --- MCP servers that cannot start ----------------------------------------------------------------

BROKEN = '[mcp.servers.broken]\ncommand = "/nonexistent/ember-mcp-server-xyz"\ndescription = "a server that is not there"\n'


def test_tools_list_shows_an_mcp_server_that_cannot_start_as_a_row(ember):
    pytest.importorskip("mcp")
    ember.config(BROKEN)
    listed = ember("tools", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert listed.stderr == ""  # no logger lines
    (row,) = [r for r in json.loads(listed.stdout) if r["toolset"] == "broken"]
    assert row["name"] == "broken" and row["available"] is False
    assert row["description"] == "a server that is not there"
    (reason,) = row["missing"]
    assert "/nonexistent/ember-mcp-server-xyz" in reason and reason.endswith("run `ember mcp test broken`")
    assert "\n" not in reason and "(log:" not in reason
    table = ember("tools", "list")
    assert table.stderr == "" and "could not be loaded" not in table.stdout
    assert any(line.startswith("broken") and "no" in line for line in table.stdout.splitlines())


def test_run_warns_once_in_one_line_when_an_mcp_server_cannot_start(ember):
    pytest.importorskip("mcp")
    ember.config(BROKEN)
    script = [
        Reply(tool_calls=[{"name": "tools_load", "arguments": {"toolset": "broken"}}]),
        Reply(tool_calls=[{"name": "broken__anything", "arguments": {}}]),
        Reply(tool_calls=[{"name": "tools_load", "arguments": {"toolset": "broken"}}]),
    ]
    with FakeOpenAI(script, responder=lambda request: Reply(text="done")) as fake:
        ember.point_at(fake)
        result = ember("run", "--json", "use the broken server")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["answer"] == "done" and all(c["is_error"] for c in data["tool_calls"])
    warnings = [line for line in result.stderr.splitlines() if "broken" in line]
    assert warnings == [
        "ember: warning: MCP server broken could not start: '/nonexistent/ember-mcp-server-xyz' was not found "
        "(is it installed and on PATH?) (ember mcp test broken)"
    ]
    assert "could not be loaded" not in result.stderr and "Traceback" not in result.stderr
    # The model still gets the whole reason, and calling one of its tools says the server is unavailable.
    tool_results = [m["content"] for m in fake.requests[-1]["messages"] if m["role"] == "tool"]
    assert "could not start" in tool_results[0]
    assert "Toolset broken (of broken__anything) is unavailable" in tool_results[1]


# --- installed, but does not import ---------------------------------------------------------------

def _broken_package(tmp_path: Path) -> tuple[Path, str]:
    """A real installed package whose own dependency is missing, as trafilatura was without
    lxml_html_clean: ``find_spec`` finds it, importing it fails."""
    name = "ember_broken_pkg_" + uuid.uuid4().hex[:8]
    site = tmp_path / "broken-site"
    (site / name).mkdir(parents=True)
    (site / name / "__init__.py").write_text(f"import {ABSENT}_dependency\n")
    return site, name


def test_an_installed_module_that_does_not_import_is_not_ready_and_says_why(ctx, tmp_path, monkeypatch):
    site, name = _broken_package(tmp_path)
    monkeypatch.syspath_prepend(str(site))

    @tool(toolset="gadgets", requires=(needs_extra(name, "web"),))
    def gadget_fetch(text: str) -> str:
        """Fetch with the broken package.

        Args:
            text: What to fetch.
        """
        return importlib.import_module(name).fetch(text)

    registry = ToolRegistry()
    registry.add(gadget_fetch)
    assert registry.missing(gadget_fetch) == []  # the cheap check (every model call) imports nothing
    deep = registry.missing(gadget_fetch, deep=True)
    assert len(deep) == 1 and "installed but does not import" in deep[0]
    assert f"No module named '{ABSENT}_dependency'" in deep[0] and "ember-agent[web]" in deep[0]

    called = registry.execute(ToolCall("1", "gadget_fetch", {"text": "x"}), ctx)
    assert called.is_error and "cannot run here" in called.content
    assert f"No module named '{ABSENT}_dependency'" in called.content
    # Once found broken, it is no longer offered to the model in this process.
    registry.execute(ToolCall("2", LOAD_TOOL, {"toolset": "gadgets"}), ctx)
    assert "gadget_fetch" not in _names(registry.schemas(ctx.loaded_toolsets))


def test_tools_list_imports_for_real_and_shows_the_import_error(ember, tmp_path):
    site, name = _broken_package(tmp_path)
    plugin = _plugin(tmp_path)
    (plugin / "ember_gadgets_plugin.py").write_text(textwrap.dedent(f'''
        from ember.tools import tool
        from ember.tools.base import needs_extra

        @tool(requires=(needs_extra("{name}", "web"),))
        def gadget_fetch(text: str) -> str:
            """Fetch some text.

            Args:
                text: What to fetch.
            """
            import {name}
            return {name}.fetch(text)
    '''))
    ember.env["PYTHONPATH"] = f"{plugin}:{site}"
    listed = ember("tools", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    (row,) = [r for r in json.loads(listed.stdout) if r["name"] == "gadget_fetch"]
    assert row["available"] is False
    assert f"No module named '{ABSENT}_dependency'" in row["missing"][0]


def test_every_builtin_tool_requirement_imports_in_the_test_install():
    """The README install must make every declared module importable (it once missed lxml_html_clean)."""
    for item in _builtin_tools():
        assert item.missing(deep=True) == [], item.name


def test_plugin_discovery_reads_entry_points_files_without_importlib_metadata(tmp_path, monkeypatch):
    from ember.plugins import group_declared as _group_declared
    from ember.tools.builtin import ENTRY_POINT_GROUP

    assert not _group_declared("ember.no_such_group_" + uuid.uuid4().hex[:8])
    monkeypatch.syspath_prepend(str(_plugin(tmp_path)))
    assert _group_declared(ENTRY_POINT_GROUP)
    registry = builtin_registry(load_settings())
    assert "gadgets" in {t.name for t in registry.toolsets()}


def test_tools_are_declared_once_and_read_from_their_modules(ember_home):
    """The prompt's index takes tool names from the modules' source (no import); they must be
    exactly the tools the modules register when imported."""
    from ember.tools import catalog

    catalog._names = None  # read afresh, into this test's EMBER_HOME cache
    names = catalog.tool_names()
    assert (ember_home / "cache" / "tool-index.json").exists()
    registry = builtin_registry(plugins=False)
    for toolset, _, _ in catalog.TOOLSETS:
        assert names[toolset] == tuple(t.name for t in registry.tools_in(toolset)), toolset
    catalog._names = None
    assert catalog.tool_names() == names  # the cache gives the same
