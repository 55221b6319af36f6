"""A base_url that is no model API, and error bodies too big to show: one line, retried only when
another attempt can help."""

import json

import pytest

from ember.config import Settings
from ember.models.anthropic import AnthropicProvider
from ember.models.base import BadResponseError, Message, RateLimitError, ServerError
from ember.models.errors import error_for_status, looks_like_html, page_title, server_message
from ember.models.openai_compat import OpenAICompatProvider
from ember.models.router import Router
from tests.fakes.openai_server import Reply
from tests.fakes.web_server import WebServer
from tests.models.conftest import SECRET

HI = [Message("user", "hi")]


def failure(provider, stream: bool):
    with pytest.raises(Exception) as info:
        if stream:
            list(provider.stream(HI))
        else:
            provider.complete(HI)
    return info.value


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("post_status", [501, 404, 405, 500])
def test_an_html_error_page_is_one_line_naming_the_openai_api(make_spec, stream, post_status):
    with WebServer(post_status=post_status) as web:
        error = failure(OpenAICompatProvider(make_spec(web.base_url)), stream)
    message = str(error)
    assert isinstance(error, BadResponseError) and not error.retryable and error.status == post_status
    assert "this URL answered with an HTML page" in message and "not the OpenAI API: is the base URL right?" in message
    assert f"(HTTP {post_status})" in message and '("Error response")' in message
    assert "<" not in message and "\n" not in message and len(message) < 400


@pytest.mark.parametrize("stream", [False, True])
def test_an_html_error_page_names_the_anthropic_api(make_spec, stream):
    with WebServer(post_status=404, title="404 Not Found") as web:
        error = failure(AnthropicProvider(make_spec(web.url, provider="anthropic")), stream)
    message = str(error)
    assert isinstance(error, BadResponseError) and not error.retryable
    assert "not the Anthropic API: is the base URL right?" in message and "https://api.anthropic.com" in message
    assert '("404 Not Found")' in message and "<" not in message


@pytest.mark.parametrize("stream", [False, True])
def test_an_html_page_with_status_200_is_not_the_api_either(provider_openai, fake_openai, stream):
    fake_openai.add(Reply.garbage(b"<!doctype html><html><head><title>Router login</title></head><body>"
                                  b"<form>...</form></body></html>"))
    error = failure(provider_openai, stream)
    assert isinstance(error, BadResponseError) and not error.retryable
    assert '"Router login"' in str(error) and "not the OpenAI API" in str(error)


@pytest.fixture
def provider_openai(make_spec, fake_openai):
    provider = OpenAICompatProvider(make_spec(fake_openai))
    yield provider
    provider.close()


def test_a_gateway_page_is_retried_and_summarised(provider_openai, fake_openai):
    fake_openai.add(Reply.garbage(b"<html><head><title>502 Bad Gateway</title></head><body><center>nginx"
                                  b"</center></body></html>", status=502))
    error = failure(provider_openai, False)
    assert isinstance(error, ServerError) and error.retryable
    assert str(error).startswith("OpenAI-compatible server at ") and '(HTTP 502): an HTML page ("502 Bad Gateway")' in str(error)


def test_html_401_keeps_the_key_hint_and_asks_about_the_url():
    error = error_for_status(401, "<html><title>Login</title></html>", {"content-type": "text/html"},
                             url="http://h/v1/chat/completions", label="OpenAI-compatible server", model="m",
                             secret=None, api="the OpenAI API")
    assert "is the base URL right? Check EMBER_API_KEY" in str(error)


def test_501_is_not_retried_even_from_a_model_api(provider_openai, fake_openai):
    fake_openai.add(Reply.fail(501, "not implemented")).add(Reply.fail(500, "hiccup"))
    assert not failure(provider_openai, False).retryable
    assert failure(provider_openai, False).retryable


@pytest.mark.parametrize("body, content_type", [
    (json.dumps({"error": {"message": "too long " * 20_000, "type": "server_error"}}), "application/json"),
    ("stack trace line\n" * 200_000, "text/plain"),
])
@pytest.mark.parametrize("stream", [False, True])
def test_a_huge_error_body_is_shortened_to_one_line(provider_openai, fake_openai, body, content_type, stream):
    fake_openai.add(Reply.garbage(body, content_type=content_type, status=500))
    message = str(failure(provider_openai, stream))
    assert len(message) < 500 and "\n" not in message and message.count("…") == 1
    assert "Try again later." in message


def test_no_secret_survives_the_summary():
    page = f"<html><head><title>Bad key {SECRET}</title></head></html>"
    error = error_for_status(404, page, {}, url="u", label="l", model="m", secret=SECRET, api="the OpenAI API")
    assert SECRET not in str(error) and "HTML page" in str(error)


def test_html_detection_and_titles():
    assert looks_like_html("  <!DOCTYPE html><p>x</p>")
    assert looks_like_html("<html><body>502 Bad Gateway</body></html>")
    assert looks_like_html("not found", "text/html; charset=utf-8")
    assert not looks_like_html('{"error": "<b>json</b>"}', "application/json")
    assert not looks_like_html("a < b and <b>bold</b>")
    assert page_title("<title>\n  Error &amp; more </title>") == "Error & more"
    assert page_title("<body><h1>Not <em>here</em></h1></body>") == "Not here"
    assert page_title("<p>nothing</p>") == ""
    assert len(page_title("<title>" + "word " * 40 + "</title>")) == 61
    assert server_message('{"error": {"message": "two\\nlines"}}') == "two lines"


@pytest.mark.parametrize("stream", [False, True])
def test_the_router_asks_a_web_server_once_and_falls_back_at_once(tmp_path, make_spec, fake_openai, stream):
    with WebServer() as web:
        models = {"default": make_spec(web.base_url, name="default", model="m"),
                  "backup": make_spec(fake_openai, name="backup", model="backup-1")}
        sleeps: list[float] = []
        router = Router(Settings(home=tmp_path, models=models, fallback=["backup"], retries=2), sleep=sleeps.append)
        fake_openai.add("from backup")
        notices: list[str] = []
        if stream:
            events = list(router.stream("chat", HI, on_notice=notices.append))
            text = events[-1].completion.text
        else:
            text = router.complete("chat", HI, on_notice=notices.append).text
        router.close()
        assert text == "from backup" and web.count == 1 and sleeps == []
    assert notices == ["model default (m) failed (HTTP 501, unreadable reply); falling back to backup (backup-1)"]


def test_a_cut_off_stream_is_still_retried(provider_openai, fake_openai):
    fake_openai.add(Reply(body='data: {"choices": [{"delta": {"content": "cut"}}]}\n\n',
                          content_type="text/event-stream"))
    error = failure(provider_openai, True)
    assert isinstance(error, BadResponseError) and error.retryable


def test_rate_limit_pages_stay_retryable():
    error = error_for_status(429, "<html><title>Too Many Requests</title></html>", {"retry-after": "3"},
                             url="u", label="l", model="m", secret=None, api="the OpenAI API")
    assert isinstance(error, RateLimitError) and error.retryable and error.retry_after == 3.0
