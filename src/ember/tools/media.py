"""What the media tools share: image and audio formats, the endpoints they call, where output goes.

No tools live here: ``vision.py``, ``speech.py`` and ``images.py`` hold them (the ``media``
toolset), and ``files_extra.image_info`` reads image headers with ``image_header``. Format
sniffing is done from a few header bytes, so none of it needs Pillow.

Endpoints are OpenAI-compatible and configured per section of config.toml (``[speech]``,
``[images]``): ``base_url``, ``model``, ``api_key_env`` (the name of a secret in ``.env`` or the
environment) and ``timeout``. Without a ``base_url`` the default model's endpoint is used when it
is OpenAI-compatible, and its key only goes to that same endpoint, never to another host.
"""

from __future__ import annotations

import os
import re
import struct
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ember.security.approval import ApprovalRequest, check_write
from ember.tools.base import ToolContext, ToolError

if TYPE_CHECKING:
    import httpx

    from ember.config import Settings

# --- formats ----------------------------------------------------------------------------------------

_PNG_COLOR = {0: "grayscale", 2: "RGB", 3: "palette", 4: "grayscale+alpha", 6: "RGBA"}
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
IMAGE_MIME = {"PNG": "image/png", "JPEG": "image/jpeg", "GIF": "image/gif", "WEBP": "image/webp", "BMP": "image/bmp"}


def image_header(data: bytes) -> dict[str, Any] | None:
    """Format, width and height (and what else the header says) of a PNG, JPEG, GIF, WebP or BMP."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and data[12:16] == b"IHDR" and len(data) >= 26:
        width, height, depth, color = struct.unpack(">IIBB", data[16:26])
        return {"format": "PNG", "width": width, "height": height, "mode": _PNG_COLOR.get(color, "?"),
                "bit depth": depth}
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        width, height = struct.unpack("<HH", data[6:10])
        return {"format": "GIF", "width": width, "height": height}
    if data[:2] == b"BM" and len(data) >= 26:
        width, height = struct.unpack("<ii", data[18:26])
        return {"format": "BMP", "width": width, "height": abs(height)}
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP" and len(data) >= 30:
        kind = data[12:16]
        if kind == b"VP8 ":
            width, height = (v & 0x3FFF for v in struct.unpack("<HH", data[26:30]))
        elif kind == b"VP8L":
            bits = int.from_bytes(data[21:25], "little")
            width, height = (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
        elif kind == b"VP8X":
            width, height = int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1
        else:
            return None
        return {"format": "WEBP", "width": width, "height": height}
    if data[:2] == b"\xff\xd8":
        return _jpeg_header(data)
    return None


def _jpeg_header(data: bytes) -> dict[str, Any] | None:
    """Walk the JPEG segments to the frame header (SOFn); an EXIF segment is noted, never read."""
    i, exif = 2, False
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            i += 1
            continue
        marker = data[i + 1]
        if marker == 0xFF or marker == 0x01 or 0xD0 <= marker <= 0xD8:
            i += 1 if marker == 0xFF else 2
            continue
        length = int.from_bytes(data[i + 2 : i + 4], "big")
        exif |= marker == 0xE1 and data[i + 4 : i + 8] == b"Exif"
        if marker in _JPEG_SOF and i + 10 <= len(data):
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            mode = {1: "grayscale", 3: "YCbCr", 4: "CMYK"}.get(data[i + 9], "?")
            found: dict[str, Any] = {"format": "JPEG", "width": width, "height": height, "mode": mode}
            if exif:
                found["EXIF"] = "present (not shown)"
            return found
        i += 2 + length
    return None


def describe_image(path: Path) -> dict[str, Any] | None:
    """What an image file is, with Pillow when it is installed (more formats), else from its header."""
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:
        pass
    else:
        try:
            with Image.open(path) as image:
                info = {"format": image.format, "width": image.width, "height": image.height, "mode": image.mode}
                if getattr(image, "n_frames", 1) > 1:
                    info["frames"] = image.n_frames
                if "dpi" in image.info:
                    info["dpi"] = "x".join(f"{float(v):g}" for v in image.info["dpi"])
                return info
        except (UnidentifiedImageError, OSError):
            pass
    with path.open("rb") as fh:
        return image_header(fh.read(4 * 1024 * 1024))


def audio_suffix(data: bytes) -> str | None:
    """The file extension for audio bytes, from their magic number."""
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return ".wav"
    if data[:3] == b"ID3" or (len(data) > 1 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0):
        return ".mp3"
    return {b"OggS": ".ogg", b"fLaC": ".flac"}.get(data[:4])


def wav_duration(data: bytes) -> float | None:
    """Seconds of audio in a WAV file, from its ``fmt`` and ``data`` chunks.

    A streamed WAV may give its data size as 0 or 0xFFFFFFFF; the bytes actually there count then.
    """
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return None
    i, byte_rate = 12, 0
    while i + 8 <= len(data):
        chunk, size = data[i : i + 4], int.from_bytes(data[i + 4 : i + 8], "little")
        if chunk == b"fmt " and size >= 12:
            byte_rate = int.from_bytes(data[i + 16 : i + 20], "little")
        elif chunk == b"data":
            available = len(data) - i - 8
            size = available if size in (0, 0xFFFFFFFF) or size > available else size
            return size / byte_rate if byte_rate else None
        i += 8 + size + (size & 1)
    return None


# --- endpoints --------------------------------------------------------------------------------------


SECTION_KEYS = {
    "vision": ("model", "max_image_mb"),
    "speech": ("backend", "voice", "speed", "max_chars", "base_url", "model", "api_key_env", "timeout"),
    "images": ("base_url", "model", "api_key_env", "timeout", "size"),
}


def config_section(settings: Settings | None, name: str) -> dict[str, Any]:
    """``[name]`` of config.toml as a dict (empty when absent); a misspelt key is an error, not ignored."""
    section = (settings.raw if settings is not None else {}).get(name, {})
    if not isinstance(section, dict):
        raise ToolError(f"config.toml: [{name}] must be a table, got {section!r}. Fix config.toml.")
    unknown = sorted(set(section) - set(SECTION_KEYS[name]))
    if unknown:
        raise ToolError(f"config.toml: [{name}] has unknown key(s) {', '.join(unknown)}; the keys are "
                        f"{', '.join(SECTION_KEYS[name])}. Fix config.toml.")
    return section


def setting(section: dict[str, Any], name: str, key: str, kind: type | tuple[type, ...], default: Any) -> Any:
    value = section.get(key, default)
    if value is not None and (not isinstance(value, kind) or isinstance(value, bool) and kind is not bool):
        raise ToolError(f"config.toml: [{name}].{key} has the wrong type ({value!r}). Fix config.toml.")
    return value


def secret(settings: Settings | None, env_name: str) -> str | None:
    """A secret by name: ``.env`` first, then the environment."""
    found = settings.secrets.get(env_name) if settings is not None else None
    return found or os.environ.get(env_name) or None


@dataclass
class Endpoint:
    """An OpenAI-compatible endpoint for one media section."""

    section: str
    base_url: str
    model: str
    api_key: str | None = field(default=None, repr=False)
    timeout: float = 120.0

    def post(self, path: str, payload: dict[str, Any]) -> httpx.Response:
        """POST JSON to ``{base_url}{path}``; failures become errors the model can report."""
        import httpx

        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        url = f"{self.base_url}{path}"
        try:
            with httpx.Client(timeout=self.timeout) as client:
                response = client.post(url, json=payload, headers=headers)
        except httpx.HTTPError as exc:
            raise ToolError(f"The [{self.section}] endpoint {url} could not be reached: {type(exc).__name__}: "
                            f"{exc}. Check [{self.section}] base_url in config.toml.") from exc
        if response.status_code >= 400:
            raise ToolError(f"The [{self.section}] endpoint {url} answered HTTP {response.status_code}: "
                            f"{_error_text(response)}")
        return response


def _error_text(response: httpx.Response) -> str:
    try:
        error = response.json().get("error")
        message = error.get("message") if isinstance(error, dict) else error
    except (ValueError, AttributeError):
        message = None
    return str(message or response.text or "(no details)")[:500]


def endpoint(settings: Settings | None, name: str, default_model: str) -> Endpoint:
    """The endpoint configured in ``[name]``, falling back to the default model's OpenAI-compatible one."""
    section = config_section(settings, name)
    base_url = setting(section, name, "base_url", str, None)
    fallback = settings.default_model if settings is not None else None
    usable = fallback is not None and fallback.provider == "openai"
    if not base_url and not usable:
        raise ToolError(f"No endpoint for {name}: set [{name}] base_url (an OpenAI-compatible API) in config.toml.")
    base_url = (base_url or fallback.base_url).rstrip("/")  # type: ignore[union-attr]
    key_env = setting(section, name, "api_key_env", str, None)
    if key_env:
        api_key = secret(settings, key_env)
        if api_key is None:
            raise ToolError(f"[{name}] api_key_env names {key_env}, which is not set: add {key_env}=... to "
                            "EMBER_HOME/.env.")
    else:  # the chat key goes only where the chat requests go
        api_key = fallback.api_key if usable and fallback.base_url.rstrip("/") == base_url else None  # type: ignore[union-attr]
    return Endpoint(
        section=name, base_url=base_url, model=setting(section, name, "model", str, default_model),
        api_key=api_key, timeout=float(setting(section, name, "timeout", (int, float), 120.0)),
    )


# --- output files -----------------------------------------------------------------------------------


def output_path(ctx: ToolContext, path: str | None, folder: str, stem: str, suffix: str) -> Path:
    """Where a generated file goes: ``path`` as given, else a new name under ``folder`` in the workspace."""
    if path:
        target = ctx.resolve(path)
        if target.is_dir():
            raise ToolError(f"{path} is a folder; give a file name.")
        return target
    slug = re.sub(r"[^a-z0-9]+", "-", stem.lower()).strip("-")[:40] or "output"
    base = ctx.workspace / folder / f"{slug}-{time.strftime('%Y%m%d-%H%M%S')}"
    target, n = base.with_suffix(suffix), 1
    while target.exists():
        n += 1
        target = base.parent / f"{base.name}-{n}{suffix}"
    return target


def output_approval(args: dict[str, Any], ctx: ToolContext) -> ApprovalRequest | None:
    """Writing a generated file outside the workspace needs approval, as ``write_file`` does."""
    if not args.get("path"):
        return None
    target = ctx.resolve(args["path"])
    reason = check_write(target, ctx.workspace)
    if reason is None:
        return None
    return ApprovalRequest(tool="", reason=reason, action=f"write {target}", subjects=[str(target)])


def save(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
