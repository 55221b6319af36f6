"""``image_generate``: a picture from a prompt, through an OpenAI-compatible images endpoint.

``POST {base_url}/images/generations`` with the prompt, size and model of ``[images]``; the
answer's ``b64_json`` (or, from servers that only give links, its ``url``) is decoded, checked to
be an image, and saved in the workspace. The model gets the path back, not the pixels: it can
look at the result with ``vision_analyze`` when it needs to.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from ember.tools.base import ToolContext, ToolError, tool
from ember.tools.media import (
    config_section,
    endpoint,
    image_header,
    output_approval,
    output_path,
    save,
    setting,
)

DEFAULT_MODEL = "gpt-image-1"
SUFFIXES = {"PNG": ".png", "JPEG": ".jpg", "GIF": ".gif", "WEBP": ".webp", "BMP": ".bmp"}


def _image_bytes(item: dict[str, Any], timeout: float) -> bytes:
    if isinstance(item.get("b64_json"), str):
        try:
            return base64.b64decode(item["b64_json"], validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ToolError("The images endpoint returned b64_json that is not valid base64.") from exc
    if isinstance(item.get("url"), str):
        import httpx

        try:
            response = httpx.get(item["url"], timeout=timeout, follow_redirects=True)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise ToolError(f"Could not download the generated image: {exc}") from exc
        return response.content
    raise ToolError("The images endpoint answered without b64_json or url.")


@tool(toolset="media", needs_approval=output_approval)
def image_generate(ctx: ToolContext, prompt: str, size: str | None = None, path: str | None = None) -> str:
    """Generate an image from a text prompt and save it in the workspace.

    Args:
        prompt: What the image shows: subject, style, composition, colours.
        size: WIDTHxHEIGHT, e.g. "1024x1024" or "1536x1024"; the configured default when omitted.
        path: Where to save it, relative to the workspace; default images/<first words>-<time>.png.
    """
    if not prompt.strip():
        raise ToolError("prompt is empty; describe the image.")
    section = config_section(ctx.settings, "images")
    size = size or setting(section, "images", "size", str, "1024x1024")
    if not re.fullmatch(r"\d{2,5}x\d{2,5}|auto", size):
        raise ToolError(f"size {size!r}: use WIDTHxHEIGHT such as 1024x1024.")
    api = endpoint(ctx.settings, "images", DEFAULT_MODEL)
    payload: dict[str, Any] = {"model": api.model, "prompt": prompt, "size": size, "n": 1}
    if not api.model.startswith("gpt-image"):  # gpt-image models always answer in base64 and refuse the field
        payload["response_format"] = "b64_json"
    answer = api.post("/images/generations", payload)
    try:
        items = answer.json().get("data")
    except (ValueError, AttributeError):
        items = None
    if not isinstance(items, list) or not items or not isinstance(items[0], dict):
        raise ToolError(f"The images endpoint at {api.base_url} answered without a data list.")
    data = _image_bytes(items[0], api.timeout)
    header = image_header(data)
    if header is None:
        raise ToolError(f"The images endpoint returned {len(data)} bytes that are not an image.")
    target = output_path(ctx, path, "images", prompt, SUFFIXES.get(header["format"], ".png"))
    save(target, data)
    revised = items[0].get("revised_prompt")
    note = f" The endpoint revised the prompt to: {revised}" if isinstance(revised, str) and revised else ""
    return (f"Saved {ctx.shown(target)} ({header['format']}, {header['width']}x{header['height']}, "
            f"{len(data) / 1024:.1f} KB).{note}")
