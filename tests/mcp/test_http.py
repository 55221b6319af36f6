"""MCP over streamable HTTP, against the fake Python server: headers, secrets, refusals, outages."""

from __future__ import annotations

from ember.models.base import ToolCall
from ember.tools.base import ToolContext
from ember.tools.builtin import builtin_registry


def call(registry, ctx, tool, **arguments):
    return registry.execute(ToolCall(id="c1", name=tool, arguments=arguments), ctx)


def test_headers_carry_secrets_from_dotenv(configure, ember_home, http_server, tmp_path):
    (ember_home / ".env").write_text("NOTES_API_TOKEN=tok-abcdef-123456\n")
    settings = configure(remote={"url": http_server.url, "headers": {"Authorization": "Bearer ${NOTES_API_TOKEN}"}})
    registry = builtin_registry(settings)
    ctx = ToolContext(workspace=tmp_path)
    assert call(registry, ctx, "remote__add", a=20, b=22).content == "42"
    # The server saw the header; the model sees it redacted.
    assert call(registry, ctx, "remote__whoami").content == "Bearer [REDACTED]"
    assert "tok-abcdef-123456" not in repr(registry.tools_in("remote"))


def test_a_refused_token_is_explained(configure, ember_home, http_server, tmp_path):
    (ember_home / ".env").write_text("NOTES_API_TOKEN=wrong-token-000000\n")
    settings = configure(remote={"url": http_server.url, "headers": {"Authorization": "Bearer ${NOTES_API_TOKEN}"}})
    result = call(builtin_registry(settings), ToolContext(workspace=tmp_path), "tools_load", toolset="remote")
    assert result.is_error
    assert "HTTP 401" in result.content and "check its url and headers" in result.content
    assert "wrong-token" not in result.content


def test_an_endpoint_that_goes_away_is_reported_not_raised(configure, tmp_path):
    from tests.fakes.mcp_http_server import McpHttpServer

    server = McpHttpServer().start()
    registry = builtin_registry(configure(remote={"url": server.url}))
    ctx = ToolContext(workspace=tmp_path)
    assert call(registry, ctx, "remote__echo", text="up").content == "up"
    server.stop()
    down = call(registry, ctx, "remote__echo", text="still there?")
    assert down.is_error and "stopped during tool echo" in down.content
    assert "could not be restarted" in down.content
    again = call(registry, ctx, "remote__echo", text="?")
    assert again.is_error and "could not be restarted" in again.content
