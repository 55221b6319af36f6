"""MCP results as Ember tool results: text joined, images as data URLs, the rest described.

A tool result is text for the model plus images (``ToolResult.images``, data URLs the model
adapters attach). Embedded resources show their text; binary content the model cannot use
(audio, archives) is described in one line instead of being pasted as base64.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from ember.tools.base import ToolResult

_MAX_IMAGE_CHARS = 8_000_000  # base64 characters: larger images are described, not attached


def _blob_line(kind: str, mime: str | None, data: str, where: str = "") -> str:
    size = len(data) * 3 // 4
    return f"[{kind}{' ' + where if where else ''}: {mime or 'unknown type'}, {size:,} bytes, not shown]"


def render_blocks(blocks: Iterable[Any], images: list[str], server: str) -> list[str]:
    """Text parts for a list of MCP content blocks; images are appended to ``images``."""
    parts: list[str] = []
    for block in blocks:
        kind = getattr(block, "type", "")
        if kind == "text":
            parts.append(block.text)
        elif kind == "image":
            if len(block.data) <= _MAX_IMAGE_CHARS:
                images.append(f"data:{block.mime_type};base64,{block.data}")
                parts.append(f"[image {len(images)}: {block.mime_type}, attached]")
            else:
                parts.append(_blob_line("image", block.mime_type, block.data))
        elif kind == "audio":
            parts.append(_blob_line("audio", block.mime_type, block.data))
        elif kind == "resource_link":
            about = f" - {block.description}" if block.description else ""
            parts.append(
                f"[resource {block.uri} ({block.name}{', ' + block.mime_type if block.mime_type else ''}){about}; "
                f"read it with {server}__read_resource]"
            )
        elif kind == "resource":
            parts.append(render_resource(block.resource, images))
        else:
            parts.append(f"[{kind or 'unknown'} content]")
    return parts


def render_resource(contents: Any, images: list[str]) -> str:
    """One resource's contents (text, or an image, or a description of the bytes)."""
    uri, mime = str(contents.uri), getattr(contents, "mime_type", None)
    text = getattr(contents, "text", None)
    if text is not None:
        return f"--- {uri}{' (' + mime + ')' if mime else ''}\n{text}"
    blob = getattr(contents, "blob", "") or ""
    if mime and mime.startswith("image/") and len(blob) <= _MAX_IMAGE_CHARS:
        images.append(f"data:{mime};base64,{blob}")
        return f"--- {uri}: [image {len(images)}: {mime}, attached]"
    return _blob_line("binary resource", mime, blob, uri)


def tool_result(result: Any, server: str, redact: Callable[[str], str]) -> ToolResult:
    """A ``CallToolResult`` as a ``ToolResult``; ``is_error`` makes it an error the model reads."""
    images: list[str] = []
    parts = render_blocks(result.content or [], images, server)
    if not any(p.strip() for p in parts) and result.structured_content is not None:
        parts.append(json.dumps(result.structured_content, ensure_ascii=False, indent=1, default=str))
    text = "\n".join(parts).strip() or ("(the tool failed without a message)" if result.is_error else "(no output)")
    return ToolResult(redact(text), is_error=bool(result.is_error), images=images)


def resource_result(result: Any, redact: Callable[[str], str]) -> ToolResult:
    images: list[str] = []
    parts = [render_resource(contents, images) for contents in result.contents]
    return ToolResult(redact("\n".join(parts) or "(the resource is empty)"), images=images)


def prompt_result(result: Any, server: str, redact: Callable[[str], str]) -> ToolResult:
    images: list[str] = []
    lines = [result.description] if result.description else []
    for message in result.messages:
        text = "\n".join(render_blocks([message.content], images, server))
        lines.append(f"[{message.role}]\n{text}")
    return ToolResult(redact("\n\n".join(lines) or "(the prompt is empty)"), images=images)
