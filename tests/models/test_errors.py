import subprocess
import sys
import time
from email.utils import formatdate

import pytest

from ember.models.base import AuthError
from ember.models.errors import parse_retry_after, redact, server_message
from ember.models.openai_compat import OpenAICompatProvider
from tests.fakes.openai_server import FakeOpenAI


@pytest.mark.parametrize(("value", "expected"), [("5", 5.0), ("0.5", 0.5), ("-3", 0.0), ("", None), (None, None),
                                                 ("soon", None)])
def test_retry_after_seconds(value, expected):
    assert parse_retry_after(value) == expected


def test_retry_after_http_date():
    now = time.time()
    assert parse_retry_after(formatdate(now + 120, usegmt=True), now=now) == pytest.approx(120, abs=1)
    assert parse_retry_after(formatdate(now - 120, usegmt=True), now=now) == 0.0


def test_redact_hides_the_key_and_its_halves():
    key = "sk-proj-abcdefghijklmnopqrstuvwxyz"
    text = f"bad key {key}; provided: {key[:17]}...; tail {key[-17:]}"
    cleaned = redact(text, key)
    assert key not in cleaned and key[:17] not in cleaned and key[-17:] not in cleaned
    assert redact("nothing here", None) == "nothing here"


def test_server_message_shapes():
    assert server_message('{"error": {"message": "model not found"}}') == "model not found"
    assert server_message('{"error": "plain"}') == "plain"
    assert server_message('{"detail": "fastapi style"}') == "fastapi style"
    assert server_message("<html>\n  Bad   Gateway </html>") == "<html> Bad Gateway </html>"


def test_fake_enforces_its_key(make_spec):
    with FakeOpenAI(api_key="right-key-123456") as fake:
        fake.add("never")
        with pytest.raises(AuthError, match="EMBER_API_KEY"):
            OpenAICompatProvider(make_spec(fake, api_key="wrong-key-123456")).complete([])
        assert OpenAICompatProvider(make_spec(fake, api_key="right-key-123456")).complete([]).text == "never"


def test_importing_the_models_layer_does_not_import_httpx():
    code = ("import sys, ember.models.router, ember.models.catalog, ember.models.openai_compat, "
            "ember.models.anthropic, ember.models.hermes; print('httpx' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
