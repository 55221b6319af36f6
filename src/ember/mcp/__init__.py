"""MCP: Ember as a client of Model Context Protocol servers, and as a server of its own memory.

- ``config.py``: the ``[mcp.servers.NAME]`` tables of config.toml, checked with clear errors.
- ``config_edit.py``: ``ember mcp add/remove`` edit config.toml, keeping comments and layout.
- ``client.py``: one connection per server, with timeouts and one restart after a crash;
  ``loop_thread.py`` runs its event loop in a thread (the SDK is async, the agent loop is not);
  ``server_info.py`` keeps what the server said about itself.
- ``content.py``: MCP results (text, images, resources) as Ember tool results.
- ``toolset.py``: each server is a toolset named after it, started when it is first used.
- ``probe.py``: start a server and list its tools, for ``ember mcp test|list|add`` and ``ember doctor``.
- ``server.py`` / ``memory_access.py``: ``ember mcp serve`` shares memory search, USER.md and skills.

Nothing here imports the ``mcp`` SDK at module level: a run that uses no MCP server never loads
it, and a missing SDK is reported as "install ember-agent[mcp]" when a server is used.
"""

from __future__ import annotations

INSTALL_HINT = "MCP support needs the mcp package: pip install 'ember-agent[mcp]'"


class McpServerError(Exception):
    """An MCP server could not be started, or failed a request; the message is shown as is."""
