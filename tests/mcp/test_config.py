"""[mcp.servers.NAME] tables: parsed, checked with clear errors, edited without losing comments."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest

from ember.config import ConfigError, load_settings
from ember.mcp import McpServerError
from ember.mcp.config import parse_server, resolve, server_configs
from ember.mcp.config_edit import add_server, remove_server

DOC = Path(__file__).resolve().parents[2] / "docs" / "mcp.md"


def test_stdio_and_http_tables(configure):
    settings = configure(
        notes={"command": "npx", "args": ["-y", "pkg", "~/notes"], "env": {"TOKEN": "${NOTES_TOKEN}"},
               "description": "my notes", "timeout": 5},
        tracker={"url": "https://mcp.example.com/mcp", "headers": {"Authorization": "Bearer ${T}"}, "enabled": False},
    )
    configs = server_configs(settings)
    assert list(configs) == ["notes", "tracker"]
    notes, tracker = configs["notes"], configs["tracker"]
    assert (notes.transport, notes.args, notes.env, notes.timeout) == ("stdio", ("-y", "pkg", "~/notes"),
                                                                      {"TOKEN": "${NOTES_TOKEN}"}, 5.0)
    assert notes.target == "npx -y pkg ~/notes" and notes.description == "my notes"
    assert (tracker.transport, tracker.enabled, tracker.connect_timeout) == ("http", False, 30.0)


@pytest.mark.parametrize(
    ("name", "table", "message"),
    [
        ("x", {}, "needs exactly one of `command`"),
        ("x", {"command": "a", "url": "http://b"}, "needs exactly one of `command`"),
        ("x", {"command": "a", "comand": "b"}, "unknown key 'comand'"),
        ("x", {"url": "ftp://host"}, "must be an http:// or https:// URL"),
        ("x", {"command": "a", "args": "b c"}, "args must be a list of strings"),
        ("x", {"command": "a", "env": {"K": ["v"]}}, "env.K must be a string"),
        ("x", {"command": "a", "headers": {"K": "v"}}, "headers are for `url` servers"),
        ("x", {"url": "http://h", "env": {"K": "v"}}, "args, env and cwd are for `command` servers"),
        ("x", {"command": "a", "timeout": 0}, "timeout must be a positive number"),
        ("x", {"command": "a", "enabled": "yes"}, "enabled must be true or false"),
        ("a__b", {"command": "a"}, "no '__'"),
        ("has space", {"command": "a"}, "use 1-30 letters"),
        ("web", {"command": "a"}, "built-in toolset's name"),
        ("tools_load", {"command": "a"}, "built-in toolset's name"),
    ],
)
def test_bad_tables_say_what_to_change(name, table, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse_server(name, table)


def test_a_bad_table_stops_ember_with_the_config_error(configure, ember_home):
    (ember_home / "config.toml").write_text("[mcp.servers.broken]\nargs = []\n")
    from ember.tools.builtin import builtin_registry

    with pytest.raises(ConfigError, match=r"\[mcp.servers.broken\] needs exactly one"):
        builtin_registry(load_settings())


def test_secret_references_resolve_and_are_remembered_for_scrubbing():
    resolved, used = resolve({"Authorization": "Bearer ${TOKEN}", "X-Plain": "v"}, {"TOKEN": "s3cr3t-value"}, "h")
    assert resolved == {"Authorization": "Bearer s3cr3t-value", "X-Plain": "v"}
    assert used == ["s3cr3t-value"]
    with pytest.raises(McpServerError, match=r"refers to \$\{MISSING\}, which is not set") as info:
        resolve({"A": "${MISSING}"}, {"OTHER": "x"}, "MCP server 'x': env")
    assert "x" not in str(info.value).split("MISSING")[-1]


def test_add_and_remove_keep_comments_other_tables_and_mode(ember_home):
    path = ember_home / "config.toml"
    original = '# my settings\n[model]\nmodel = "qwen"  # the small one\n\n[tools]\nenabled = ["*"]\n'
    path.write_text(original)
    path.chmod(0o600)
    add_server(path, "notes", {"command": "npx", "args": ["-y", "pkg"], "env": {"TOKEN": "${NOTES_TOKEN}"}})
    add_server(path, "tracker", {"url": "http://127.0.0.1:9/mcp", "headers": {"Authorization": "Bearer ${T}"}})
    text = path.read_text()
    assert text.startswith(original)
    assert "[mcp.servers.notes]" in text and 'env = {TOKEN = "${NOTES_TOKEN}"}' in text
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert list(server_configs(load_settings())) == ["notes", "tracker"]
    with pytest.raises(ConfigError, match="already configured"):
        add_server(path, "notes", {"command": "other"})
    add_server(path, "notes", {"command": "other"}, replace=True)
    assert server_configs(load_settings())["notes"].command == "other"
    assert remove_server(path, "notes") and remove_server(path, "tracker")
    assert not remove_server(path, "notes")
    assert path.read_text().strip() == original.strip()
    assert load_settings().raw.get("mcp") is None


def test_a_new_config_file_is_private_and_a_bad_table_is_never_written(ember_home):
    path = ember_home / "config.toml"
    with pytest.raises(ConfigError):
        add_server(path, "x", {"command": "a", "url": "http://b"})
    assert not path.exists()
    add_server(path, "x", {"command": "a"})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_config_examples_in_the_docs_are_valid():
    import tomllib

    blocks = re.findall(r"```toml\n(.*?)```", DOC.read_text(), re.S)
    assert blocks
    for block in blocks:
        servers = tomllib.loads(block).get("mcp", {}).get("servers", {})
        for name, table in servers.items():
            parse_server(name, table)
