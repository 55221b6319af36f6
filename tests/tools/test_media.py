"""The media toolset against real local servers: vision through the model adapters, speech, images."""

from __future__ import annotations

import base64
import io
import re
import shutil
import sqlite3
import wave
from pathlib import Path

import pytest

from ember.config import load_settings
from ember.models.base import ToolCall
from ember.runtime import build_runtime
from ember.tools.base import ToolError
from ember.tools.media import config_section, endpoint, wav_duration
from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.images_server import FakeMedia, png_bytes, wav_bytes
from tests.fakes.openai_server import FakeOpenAI, Reply

MEDIA_KEY = "sk-media-test-0123456789"


@pytest.fixture
def make_runtime(ember_home, tmp_path):
    """make_runtime(model_url, config="", env=None) -> (runtime, workspace); closed after the test."""
    workspace = tmp_path / "ws"
    workspace.mkdir()
    opened = []

    def make(model_url: str, config: str = "", env: dict[str, str] | None = None, provider: str = "openai"):
        (ember_home / "config.toml").write_text(
            f'retries = 0\nworkspace = "{workspace}"\n'
            f'[model]\nprovider = "{provider}"\nbase_url = "{model_url}"\nmodel = "fake-model"\n'
            f'api_key = "sk-chat-key-0123456789"\n[agent]\nstream = false\n{config}'
        )
        (ember_home / ".env").write_text(f"MEDIA_KEY={MEDIA_KEY}\n")
        runtime = build_runtime(load_settings(ember_home, env=env or {}), interactive=False)
        opened.append(runtime)
        return runtime, workspace

    yield make
    for runtime in opened:
        runtime.close()


def call_tool(runtime, name: str, **arguments):
    agent = runtime.agent
    session = agent.new_session(source="test")
    return agent.registry.execute(ToolCall(id="t1", name=name, arguments=arguments), agent.tool_context(session))


# --- vision_analyze ---------------------------------------------------------------------------------


def test_vision_sends_the_image_as_an_openai_image_part(make_runtime):
    image = png_bytes(5, 4, (250, 0, 0))
    script = [
        Reply(tool_calls=[{"name": "vision_analyze", "arguments": {"image": "shots/red.png", "question": "Colour?"}}]),
        Reply(text="A solid red square.", usage=(900, 6)),
        Reply(text="The picture is red."),
    ]
    with FakeOpenAI(script) as fake:
        runtime, workspace = make_runtime(fake.base_url)
        (workspace / "shots").mkdir()
        (workspace / "shots/red.png").write_bytes(image)
        session = runtime.agent.new_session(source="test")
        finished = runtime.agent.ask(session, "what colour is shots/red.png?")
    assert finished.answer == "The picture is red."
    vision_request = fake.requests[1]
    assert vision_request["messages"] == [{"role": "user", "content": [
        {"type": "text", "text": "Colour?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64," + base64.b64encode(image).decode()}},
    ]}]
    assert "tools" not in vision_request
    tool_result = [m for m in fake.requests[2]["messages"] if m["role"] == "tool"][0]
    assert tool_result["content"] == "A solid red square."
    with sqlite3.connect(runtime.settings.db_path) as db:
        rows = db.execute("SELECT kind, input_tokens FROM usage WHERE session_id = ?", (session,)).fetchall()
    assert ("vision", 900) in rows  # the vision call is counted in the session's usage


def test_vision_routes_to_a_named_anthropic_model_and_downloads_urls(make_runtime):
    image = png_bytes(2, 2, (0, 0, 255))
    with FakeOpenAI() as chat, FakeAnthropic(["Two blue pixels squared."]) as claude, FakeMedia() as files:
        files.files["blue.png"] = image
        config = (f'[models.eyes]\nprovider = "anthropic"\nbase_url = "{claude.base_url}"\nmodel = "claude-x"\n'
                  f'api_key = "sk-ant-0123456789"\n[vision]\nmodel = "eyes"\n')
        runtime, _ = make_runtime(chat.base_url, config)
        result = call_tool(runtime, "vision_analyze", image=f"{files.url}/files/blue.png", question="What is it?")
    assert not result.is_error, result.content
    assert result.content == "Two blue pixels squared."
    assert chat.requests == []  # the chat model was not asked
    content = claude.requests[0]["messages"][0]["content"]
    assert content[0] == {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                                      "data": base64.b64encode(image).decode()}}
    assert content[1] == {"type": "text", "text": "What is it?"}


def test_vision_refuses_what_is_not_an_image(make_runtime):
    with FakeOpenAI() as fake:
        runtime, workspace = make_runtime(fake.base_url, '[vision]\nmodel = "nope"\n')
        (workspace / "notes.txt").write_text("hello")
        not_image = call_tool(runtime, "vision_analyze", image="notes.txt", question="?")
        missing = call_tool(runtime, "vision_analyze", image="gone.png", question="?")
        (workspace / "ok.png").write_bytes(png_bytes())
        bad_model = call_tool(runtime, "vision_analyze", image="ok.png", question="?")
    assert not_image.is_error and "PNG, JPEG, GIF or WebP" in not_image.content
    assert missing.is_error and "No such image file" in missing.content
    assert bad_model.is_error and "[models.nope]" in bad_model.content
    assert fake.requests == []


# --- text_to_speech ---------------------------------------------------------------------------------


def duration_of(data: bytes) -> float:
    with wave.open(io.BytesIO(data)) as wav:
        return wav.getnframes() / wav.getframerate()


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed (apt-get install espeak-ng)")
def test_text_to_speech_with_espeak_writes_a_real_wav(make_runtime):
    with FakeOpenAI() as fake:
        runtime, workspace = make_runtime(fake.base_url)
        result = call_tool(runtime, "text_to_speech", text="Hello from Ember. The build passed.", path="out/hi.wav")
        bad_voice = call_tool(runtime, "text_to_speech", text="hi", voice="zz", path="x.wav")
    assert not result.is_error, result.content
    data = (workspace / "out/hi.wav").read_bytes()
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE"
    assert duration_of(data) > 0.5
    assert result.content.startswith("Saved out/hi.wav (WAV, ") and " s, " in result.content
    assert bad_voice.is_error and "espeak-ng --voices" in bad_voice.content
    assert not (workspace / "x.wav").exists()


def test_text_to_speech_through_an_openai_compatible_api(make_runtime):
    audio = wav_bytes(seconds=1.25)
    with FakeOpenAI() as fake, FakeMedia(audio=audio, api_key=MEDIA_KEY) as media:
        config = (f'[speech]\nbackend = "openai"\nbase_url = "{media.base_url}"\nmodel = "tts-x"\n'
                  f'api_key_env = "MEDIA_KEY"\nvoice = "nova"\n')
        runtime, workspace = make_runtime(fake.base_url, config)
        result = call_tool(runtime, "text_to_speech", text="Good morning")
    assert not result.is_error, result.content
    request = media.requests[0]
    assert request.path == "/v1/audio/speech"
    assert request.body == {"model": "tts-x", "input": "Good morning", "voice": "nova", "response_format": "wav"}
    assert request.headers["authorization"] == f"Bearer {MEDIA_KEY}"
    saved = list((workspace / "speech").glob("good-morning-*.wav"))
    assert len(saved) == 1 and saved[0].read_bytes() == audio
    assert "(WAV, 1.2 s," in result.content or "(WAV, 1.3 s," in result.content
    assert MEDIA_KEY not in result.content


def test_wav_duration_reads_streamed_headers():
    data = bytearray(wav_bytes(seconds=0.5, rate=8000))
    assert wav_duration(bytes(data)) == pytest.approx(0.5)
    data[40:44] = (0xFFFFFFFF).to_bytes(4, "little")  # a streamed WAV does not know its length
    assert wav_duration(bytes(data)) == pytest.approx(0.5)
    assert wav_duration(b"ID3 not a wav") is None


# --- image_generate ---------------------------------------------------------------------------------


def test_image_generate_saves_the_png(make_runtime):
    image = png_bytes(6, 4, (10, 200, 10))
    with FakeOpenAI() as fake, FakeMedia(image=image, api_key=MEDIA_KEY) as media:
        config = f'[images]\nbase_url = "{media.base_url}"\nmodel = "img-x"\napi_key_env = "MEDIA_KEY"\n'
        runtime, workspace = make_runtime(fake.base_url, config)
        result = call_tool(runtime, "image_generate", prompt="A green field at dawn", size="512x512")
        named = call_tool(runtime, "image_generate", prompt="logo", path="brand/logo.png")
    assert not result.is_error, result.content
    assert media.requests[0].body == {"model": "img-x", "prompt": "A green field at dawn", "size": "512x512",
                                      "n": 1, "response_format": "b64_json"}
    saved = list((workspace / "images").glob("a-green-field-at-dawn-*.png"))
    assert len(saved) == 1 and saved[0].read_bytes() == image
    assert "(PNG, 6x4," in result.content and "digital art" in result.content
    assert not named.is_error and (workspace / "brand/logo.png").read_bytes() == image


def test_image_generate_errors_are_clear_and_keys_stay_home(make_runtime, tmp_path):
    with FakeOpenAI() as fake, FakeMedia() as media:
        media.add(Reply.fail(400, "Your request was rejected by the safety system."))
        # No api_key_env, and another host than the chat model: the chat key must not be sent there.
        runtime, workspace = make_runtime(fake.base_url, f'[images]\nbase_url = "{media.base_url}"\n')
        rejected = call_tool(runtime, "image_generate", prompt="something")
        outside = call_tool(runtime, "image_generate", prompt="x", path=str(tmp_path / "elsewhere.png"))
        bad_size = call_tool(runtime, "image_generate", prompt="x", size="huge")
    assert rejected.is_error and "HTTP 400" in rejected.content and "safety system" in rejected.content
    assert "authorization" not in media.requests[0].headers
    assert media.requests[0].body["model"] == "gpt-image-1" and "response_format" not in media.requests[0].body
    assert outside.is_error and "needs approval" in outside.content and not (tmp_path / "elsewhere.png").exists()
    assert bad_size.is_error and "WIDTHxHEIGHT" in bad_size.content
    assert len(media.requests) == 1


def test_image_generate_downloads_a_url_answer(make_runtime):
    image = png_bytes(3, 3, (1, 2, 3))
    with FakeOpenAI() as fake, FakeMedia(image=image) as media:
        media.answer_with = "url"
        runtime, workspace = make_runtime(fake.base_url, f'[images]\nbase_url = "{media.base_url}"\nmodel = "dall-e-3"\n')
        result = call_tool(runtime, "image_generate", prompt="tiny", path="tiny.png")
    assert not result.is_error, result.content
    assert (workspace / "tiny.png").read_bytes() == image
    assert [r.path for r in media.requests] == ["/v1/images/generations", "/files/generated.png"]


def test_image_generate_needs_an_endpoint(make_runtime):
    with FakeAnthropic() as claude:
        runtime, _ = make_runtime(claude.base_url, provider="anthropic")
        result = call_tool(runtime, "image_generate", prompt="x")
        runtime2, _ = make_runtime(claude.base_url, '[images]\nbase_url = "http://127.0.0.1:9"\napi_key_env = "NOPE"\n',
                                   provider="anthropic")
        missing_key = call_tool(runtime2, "image_generate", prompt="x")
    assert result.is_error and "set [images] base_url" in result.content
    assert missing_key.is_error and "NOPE" in missing_key.content and ".env" in missing_key.content


# --- the documented configuration ---------------------------------------------------------------------


def test_documented_config_examples_are_accepted(ember_home):
    doc = (Path(__file__).resolve().parents[2] / "docs" / "tools-files-media.md").read_text()
    blocks = re.findall(r"```toml\n(.*?)```", doc, re.S)
    assert len(blocks) == 3
    for block in blocks:
        (ember_home / "config.toml").write_text(block)
        settings = load_settings(ember_home, env={"OPENAI_API_KEY": "sk-doc-example-0123456789"})
        for name in ("vision", "speech", "images"):
            if name in settings.raw:
                config_section(settings, name)
        for name in ("speech", "images"):
            if name in settings.raw:
                assert endpoint(settings, name, "m").api_key == "sk-doc-example-0123456789"
    (ember_home / "config.toml").write_text('[images]\nbase_url = "http://x"\napi_key_evn = "K"\n')
    with pytest.raises(ToolError, match="unknown key.*api_key_evn"):
        config_section(load_settings(ember_home, env={}), "images")
