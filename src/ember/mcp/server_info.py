"""What an MCP server says about itself in the handshake, in the few fields Ember uses."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class ServerInfo:
    name: str
    version: str
    summary: str  # one line: its description, title, the first sentence of its instructions, or its name
    instructions: str
    protocol_version: str
    tools: bool
    resources: bool
    prompts: bool


def server_info(client: Any) -> ServerInfo:
    """From a connected ``mcp.Client``."""
    server = client.server_info
    instructions = (client.instructions or "").strip()
    caps = client.server_capabilities
    first = ""
    for line in instructions.splitlines():
        line = line.strip().lstrip("#").strip()
        if line:
            first = line.split(". ")[0].rstrip(".")
            break
    name = getattr(server, "name", "") or ""
    summary = (getattr(server, "description", None) or getattr(server, "title", None) or first or "").strip()
    summary = summary or (f"the {name} MCP server" if name else "")
    return ServerInfo(
        name=name,
        version=getattr(server, "version", "") or "",
        summary=" ".join(summary.split())[:120],
        instructions=instructions,
        protocol_version=str(client.protocol_version),
        tools=caps.tools is not None,
        resources=caps.resources is not None,
        prompts=caps.prompts is not None,
    )
