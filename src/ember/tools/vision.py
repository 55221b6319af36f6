"""``vision_analyze``: show an image to a multimodal model and return what it says.

The image (a file, or an http(s) URL that Ember downloads itself, so local model servers that
cannot fetch URLs work too) goes as a data URL in ``Message.images``; each adapter turns that
into its provider's image part (OpenAI ``image_url``, Anthropic ``image`` block). The call goes
through the agent's router: the chat route by default, or ``[vision] model = "NAME"``, a named
model from ``[models.NAME]`` that can see images. Its usage is recorded in the session.
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING

from ember.models.base import Cancelled, Message, ProviderError
from ember.tools.base import ToolContext, ToolError, tool
from ember.tools.media import IMAGE_MIME, config_section, image_header, setting

if TYPE_CHECKING:
    from ember.models.base import Completion
    from ember.models.router import Router

DEFAULT_MAX_MB = 20
MODEL_FORMATS = {"PNG", "JPEG", "GIF", "WEBP"}  # what the hosted vision models accept


def _download(url: str, limit: int, ctx: ToolContext) -> bytes:
    import httpx

    chunks, size = [], 0
    try:
        with httpx.Client(timeout=30, follow_redirects=True) as client, client.stream("GET", url) as response:
            if response.status_code >= 400:
                raise ToolError(f"Could not download {url}: HTTP {response.status_code}.")
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > limit:
                    raise ToolError(f"{url} is larger than {limit // 1_000_000} MB; give a smaller image.")
                if ctx.cancel.is_set():
                    raise Cancelled("download cancelled")
                chunks.append(chunk)
    except httpx.HTTPError as exc:
        raise ToolError(f"Could not download {url}: {type(exc).__name__}: {exc}") from exc
    return b"".join(chunks)


def _image_bytes(ctx: ToolContext, image: str, limit: int) -> bytes:
    if image.startswith(("http://", "https://")):
        return _download(image, limit, ctx)
    if image.startswith("data:"):
        raise ToolError("Give a file path or an http(s) URL, not a data URL.")
    target = ctx.resolve(image)
    if not target.is_file():
        raise ToolError(f"No such image file: {image}. Use search_files to find it.")
    if target.stat().st_size > limit:
        raise ToolError(f"{image} is larger than {limit // 1_000_000} MB; make a smaller copy first.")
    return target.read_bytes()


def data_url(data: bytes, where: str) -> str:
    """The image as a ``data:`` URL, refusing formats vision models do not take."""
    header = image_header(data[:4 * 1024 * 1024])
    if header is None or header["format"] not in MODEL_FORMATS:
        found = header["format"] if header else "not a recognizable image"
        raise ToolError(f"{where} is {found}; vision models take PNG, JPEG, GIF or WebP.")
    return f"data:{IMAGE_MIME[header['format']]};base64,{base64.b64encode(data).decode('ascii')}"


def _ask(ctx: ToolContext, router: Router, messages: list[Message]) -> Completion:
    model = setting(config_section(ctx.settings, "vision"), "vision", "model", str, None)
    try:
        if model is None:
            return router.complete("chat", messages, cancel=ctx.cancel)
        if model not in router.settings.models:
            known = ", ".join(sorted(router.settings.models))
            raise ToolError(f"[vision] model = {model!r} names no model; define [models.{model}] ({known} exist).")
        completion = router.provider_for(model).complete(messages, cancel=ctx.cancel)
        completion.spec_name = model  # priced as this model (Router.cost_of), like a routed call
        return completion
    except ProviderError as exc:
        raise ToolError(f"The vision model failed: {exc}") from exc


@tool(toolset="media")
def vision_analyze(ctx: ToolContext, image: str, question: str) -> str:
    """Look at an image and answer a question about it (describe, read text, compare, find details).

    Args:
        image: Image file path (relative to the workspace) or an http(s) URL.
        question: What to find out, e.g. "What does the error dialog say?".
    """
    router = ctx.router
    if router is None:
        raise ToolError("vision_analyze needs a running agent to reach the model.")
    max_mb = setting(config_section(ctx.settings, "vision"), "vision", "max_image_mb", (int, float), DEFAULT_MAX_MB)
    url = data_url(_image_bytes(ctx, image, int(max_mb * 1_000_000)), image)
    completion = _ask(ctx, router, [Message(role="user", content=question, images=[url])])
    store = ctx.store
    if store is not None and ctx.session_id is not None:
        cost = router.cost_of(completion)
        store.record_usage(ctx.session_id, model=completion.model, usage=completion.usage, cost=cost, kind="vision")
    answer = completion.text.strip()
    if not answer:
        raise ToolError("The vision model returned an empty answer; it may not accept images.")
    return answer
