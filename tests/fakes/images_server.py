"""A fake OpenAI-compatible media API: image generation, speech, and plain files to download.

Routes (real HTTP on 127.0.0.1, the same harness as the fake model servers):

- ``POST /v1/images/generations``: ``{"created": ..., "data": [{"b64_json": <PNG>, "revised_prompt": ...}]}``,
  or ``{"url": ...}`` items when the request asks ``response_format = "url"`` or ``fake.answer_with = "url"``
  (servers that only give links).
- ``POST /v1/audio/speech``: WAV bytes (``audio/wav``).
- ``GET /files/NAME``: the bytes of ``fake.files[NAME]`` (images for ``vision_analyze`` URLs).

Failures come from the reply queue: ``fake.add(Reply.fail(400, "rejected by the safety system"))``
makes the next POST fail in OpenAI's error shape. ``FakeMedia(api_key="sk-...")`` answers 401 to
other keys. ``png_bytes`` and ``wav_bytes`` build real, small files for tests.
"""

from __future__ import annotations

import base64
import io
import math
import struct
import time
import wave
import zlib
from typing import Any

from tests.fakes.scripted import Request, ScriptedServer, Wire

__all__ = ["FakeMedia", "png_bytes", "wav_bytes"]


def png_bytes(width: int = 4, height: int = 3, rgb: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    """A valid RGB PNG of one colour, built by hand (zlib + struct, no Pillow)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def wav_bytes(seconds: float = 0.5, rate: int = 16000) -> bytes:
    """A mono 16-bit WAV holding a 440 Hz tone."""
    frames = b"".join(
        struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * n / rate))) for n in range(int(seconds * rate))
    )
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(frames)
    return out.getvalue()


class FakeMedia(ScriptedServer):
    """Fake OpenAI-compatible images and speech endpoints; ``base_url`` ends in ``/v1``."""

    api_prefix = "/v1"

    def __init__(self, *, image: bytes | None = None, audio: bytes | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.image = image if image is not None else png_bytes()
        self.audio = audio if audio is not None else wav_bytes()
        self.files: dict[str, bytes] = {"generated.png": self.image}
        self.answer_with = "b64_json"

    def error_payload(self, status: int, message: str, error_type: str | None = None) -> dict[str, Any]:
        return {"error": {"message": message, "type": error_type or "invalid_request_error", "param": None,
                          "code": None}}

    def handle(self, wire: Wire, request: Request) -> None:
        path = request.path.split("?", 1)[0]
        if request.method == "GET" and path.startswith("/files/"):
            name = path.removeprefix("/files/")
            if name in self.files:
                wire.raw(200, self.files[name], "application/octet-stream")
            else:
                wire.json(404, self.error_payload(404, f"no file {name}"))
            return
        if not self.check_key(request, ("authorization",), wire):
            return
        if request.method != "POST" or path not in ("/v1/images/generations", "/v1/audio/speech"):
            wire.json(404, self.error_payload(404, f"fake media server: no route for {request.method} {path}"))
            return
        with self.lock:
            scripted = self.replies.popleft() if self.replies else None
        if scripted is not None and self.send_failure(wire, scripted):
            return
        if path == "/v1/audio/speech":
            if not isinstance(request.get("input"), str) or not request.get("voice"):
                wire.json(400, self.error_payload(400, "input and voice are required"))
                return
            wire.raw(200, self.audio, "audio/wav")
            return
        if not isinstance(request.get("prompt"), str):
            wire.json(400, self.error_payload(400, "prompt is required"))
            return
        if request.get("response_format") == "url" or self.answer_with == "url":
            item: dict[str, Any] = {"url": f"{self.url}/files/generated.png"}
        else:
            item = {"b64_json": base64.b64encode(self.image).decode("ascii")}
        item["revised_prompt"] = f"{request['prompt']}, digital art"
        wire.json(200, {"created": int(time.time()), "data": [item]})
