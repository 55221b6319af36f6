"""The reference MCP servers from npm, over stdio: what real third-party servers send works.

Needs Node and `npm ci --prefix tests/node` (CI runs both); skipped otherwise, saying why.
"""

from __future__ import annotations

import pytest

from ember.models.base import ToolCall
from ember.tools.base import ToolContext
from ember.tools.builtin import builtin_registry
from tests.mcp.conftest import node_server


def call(registry, ctx, tool, **arguments):
    return registry.execute(ToolCall(id="c1", name=tool, arguments=arguments), ctx)


@pytest.fixture
def ctx(tmp_path):
    return ToolContext(workspace=tmp_path / "ws")


def test_everything_server_tools_images_resources_prompts(configure, ctx):
    registry = builtin_registry(configure(everything={"command": node_server("mcp-server-everything")}))
    assert call(registry, ctx, "everything__echo", message="hi there").content == "Echo: hi there"
    assert "42" in call(registry, ctx, "everything__get-sum", a=40, b="2").content

    image = call(registry, ctx, "everything__get-tiny-image")
    assert not image.is_error and image.images and image.images[0].startswith("data:image/png;base64,")

    links = call(registry, ctx, "everything__get-resource-links", count=2).content
    assert "demo://resource/" in links and "everything__read_resource" in links

    listing = call(registry, ctx, "everything__list_resources").content
    assert "demo://resource/static/document/architecture.md" in listing
    assert "demo://resource/dynamic/text/{resourceId}" in listing
    doc = call(registry, ctx, "everything__read_resource", uri="demo://resource/static/document/architecture.md")
    assert not doc.is_error and "Architecture" in doc.content

    prompt = call(registry, ctx, "everything__get_prompt", name="args-prompt", arguments={"city": "Lyon"})
    assert not prompt.is_error and "Lyon" in prompt.content
    schema = registry.get("everything__get_prompt").parameters
    assert "args-prompt" in schema["properties"]["name"]["enum"]


def test_filesystem_server_reads_and_lists_an_allowed_folder(configure, ctx, tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "todo.md").write_text("- water the plants\n")
    registry = builtin_registry(configure(files_mcp={
        "command": node_server("mcp-server-filesystem"), "args": [str(shared)], "description": "my shared folder",
    }))
    assert "files_mcp: my shared folder" in registry.index_lines()
    text = call(registry, ctx, "files_mcp__read_text_file", path=str(shared / "todo.md"))
    assert (text.content.strip(), text.is_error) == ("- water the plants", False)
    listing = call(registry, ctx, "files_mcp__list_directory", path=str(shared))
    assert "todo.md" in listing.content
    outside = call(registry, ctx, "files_mcp__read_text_file", path="/etc/hostname")
    assert outside.is_error and "denied" in outside.content.lower()
