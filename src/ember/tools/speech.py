"""``text_to_speech``: text into an audio file in the workspace.

Two backends, chosen by ``[speech] backend``: ``espeak`` (the default; the local ``espeak-ng``
program, robotic but offline and instant, always WAV) and ``openai`` (any OpenAI-compatible
``POST /audio/speech`` endpoint, asked for WAV). The file's duration is read back from its header,
so the model learns that something audible was really written.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from ember.tools.base import ToolContext, ToolError, tool
from ember.tools.media import (
    audio_suffix,
    config_section,
    endpoint,
    output_approval,
    output_path,
    save,
    setting,
    wav_duration,
)

if TYPE_CHECKING:
    from ember.config import Settings

BACKENDS = ("espeak", "openai")
DEFAULT_MAX_CHARS = 5000


def _espeak(text: str, voice: str, speed: int, target: Path) -> None:
    program = shutil.which("espeak-ng") or shutil.which("espeak")
    if program is None:
        raise ToolError('text_to_speech needs espeak-ng: install it (apt-get install espeak-ng, brew install '
                        'espeak-ng), or set [speech] backend = "openai" in config.toml to use a speech API.')
    if target.suffix.lower() != ".wav":
        raise ToolError("espeak-ng writes WAV audio; give a path ending in .wav.")
    target.parent.mkdir(parents=True, exist_ok=True)
    command = [program, "-v", voice, "-s", str(speed), "-w", str(target), "--stdin"]
    try:
        done = subprocess.run(command, input=text, text=True, capture_output=True, timeout=120)
    except subprocess.TimeoutExpired as exc:
        raise ToolError("espeak-ng took more than 2 minutes; speak a shorter text.") from exc
    problem = (done.stderr or done.stdout).strip()
    if done.returncode != 0 or not target.exists():
        target.unlink(missing_ok=True)
        hint = " List the voices with `espeak-ng --voices`." if "voice" in problem.lower() else ""
        raise ToolError(f"espeak-ng failed (voice {voice!r}): {problem[:300]}.{hint}")


def _speech_api(ctx: ToolContext, text: str, voice: str, path: str | None) -> tuple[Path, bytes]:
    api = endpoint(ctx.settings, "speech", "gpt-4o-mini-tts")
    payload = {"model": api.model, "input": text, "voice": voice, "response_format": "wav"}
    data = api.post("/audio/speech", payload).content
    suffix = audio_suffix(data)
    if suffix is None:
        raise ToolError(f"The speech API at {api.base_url} did not return audio ({len(data)} bytes of something else).")
    return output_path(ctx, path, "speech", text, suffix), data


def _speech_backend(settings: Settings | None) -> str | None:
    """What text_to_speech lacks: only the espeak backend (the default) needs a program."""
    backend = setting(config_section(settings, "speech"), "speech", "backend", str, "espeak")
    if backend != "espeak" or shutil.which("espeak-ng") or shutil.which("espeak"):
        return None
    return 'espeak-ng (apt-get install espeak-ng, brew install espeak-ng, or set [speech] backend = "openai")'


@tool(toolset="media", needs_approval=output_approval, requires=(_speech_backend,))
def text_to_speech(ctx: ToolContext, text: str, voice: str | None = None, path: str | None = None) -> str:
    """Speak text into an audio file (WAV) in the workspace.

    Args:
        text: What to say.
        voice: Voice: for espeak-ng a language such as "en-us" or "fr"; for a speech API e.g. "alloy".
        path: Where to save it, relative to the workspace; default speech/<first words>-<time>.wav.
    """
    section = config_section(ctx.settings, "speech")
    backend = setting(section, "speech", "backend", str, "espeak")
    if backend not in BACKENDS:
        raise ToolError(f"config.toml: [speech] backend = {backend!r}; use one of {', '.join(BACKENDS)}.")
    if not text.strip():
        raise ToolError("text is empty; give the words to speak.")
    max_chars = setting(section, "speech", "max_chars", int, DEFAULT_MAX_CHARS)
    if len(text) > max_chars:
        raise ToolError(f"text has {len(text):,} characters; the limit is {max_chars:,} ([speech] max_chars). "
                        "Split it into several files.")
    default_voice = "en" if backend == "espeak" else "alloy"
    voice = voice or setting(section, "speech", "voice", str, default_voice)
    if backend == "espeak":
        target = output_path(ctx, path, "speech", text, ".wav")
        _espeak(text, voice, setting(section, "speech", "speed", int, 175), target)
        data = target.read_bytes()
    else:
        target, data = _speech_api(ctx, text, voice, path)
        save(target, data)
    seconds = wav_duration(data)
    length = f"{seconds:.1f} s, " if seconds is not None else ""
    kind = target.suffix.lstrip(".").upper() or "audio"
    return f"Saved {ctx.shown(target)} ({kind}, {length}{len(data) / 1024:.1f} KB, voice {voice})."
