"""http_request against a real local server: credentials, host allowlists, approvals, limits, redaction."""

from __future__ import annotations

import json
import time

import pytest

from ember.config import load_settings
from ember.models.base import ToolCall
from ember.security.approval import Approver
from ember.tools.builtin import builtin_registry
from ember.tools.registry import ToolContext
from tests.fakes.search_apis import Answer, LocalSite

TOKEN = "ghp_T0kenThatMustNeverBeShownToTheModel42"


def _echo(hit) -> Answer:
    """Answers with what it received, headers included, as an API that echoes would (httpbin)."""
    return Answer.json({"method": hit.method, "headers": hit.headers, "args": hit.query,
                        "body": hit.body.decode(errors="replace")})


@pytest.fixture
def site():
    with LocalSite() as server:
        server.route("GET", "/echo", _echo).route("POST", "/items", lambda hit: Answer.json(
            {"id": 7, "received": hit.json()}, 201, {"Location": "/items/7", "Set-Cookie": "session=abc123456"}))
        yield server


@pytest.fixture
def call(ember_home, tmp_path):
    """call(config_toml, name, approver=None, **arguments) -> ToolResult through the real registry."""

    def _call(config: str, approver: Approver | None = None, **arguments):
        (ember_home / "config.toml").write_text(config)
        (ember_home / ".env").write_text(f"GITHUB_TOKEN={TOKEN}\n")
        settings = load_settings()
        ctx = ToolContext(workspace=tmp_path, settings=settings, approver=approver or Approver("deny"))
        registry = builtin_registry(settings, plugins=False)
        return registry.execute(ToolCall(id="1", name="http_request", arguments=arguments), ctx)

    return _call


def credential(hosts: str = '["127.0.0.1"]') -> str:
    return f'[http.credentials.github]\nvalue = "Bearer ${{GITHUB_TOKEN}}"\nhosts = {hosts}\n'


def test_the_credential_reaches_the_server_and_never_the_model(call, site):
    result = call(credential(), url=f"{site.url}/echo?page=2", credential="github")
    assert not result.is_error, result.content
    assert site.hits[-1].headers["authorization"] == f"Bearer {TOKEN}"
    assert TOKEN not in result.content
    assert "[REDACTED]" in result.content
    assert result.content.startswith("HTTP 200 OK (GET http://127.0.0.1:")
    assert "content-type: application/json" in result.content
    assert '\n  "method": "GET",\n' in result.content  # pretty-printed JSON
    assert '"page": [\n' in result.content


def test_a_custom_header_credential_wins_over_a_model_header(call, site):
    config = '[http.credentials.svc]\nheader = "X-Api-Key"\nvalue = "${GITHUB_TOKEN}"\nhosts = ["127.0.0.*"]\n'
    result = call(config, url=f"{site.url}/echo", credential="svc", headers={"x-api-key": "guess"})
    assert not result.is_error, result.content
    assert site.hits[-1].headers["x-api-key"] == TOKEN
    assert TOKEN not in result.content


def test_a_credential_is_refused_for_a_host_outside_its_list(call, site):
    result = call(credential('["api.github.com"]'), url=f"{site.url}/echo", credential="github")
    assert result.is_error
    assert "may only be sent to api.github.com" in result.content
    assert site.hits == []


def test_a_redirect_to_another_host_does_not_carry_the_credential(call, site):
    with LocalSite() as other:
        other.route("GET", "/landing", _echo)
        site.route("GET", "/moved", lambda hit: Answer.redirect(f"{other.url}/landing"))
        port = site.url.rsplit(":", 1)[1]
        result = call(credential(f'["127.0.0.1:{port}"]'), url=f"{site.url}/moved", credential="github")
    assert not result.is_error, result.content
    assert site.hits[-1].headers["authorization"] == f"Bearer {TOKEN}"
    assert "authorization" not in other.hits[-1].headers
    assert f"redirected from: {site.url}/moved" in result.content
    assert "credential 'github' was not sent" in result.content


def test_a_credential_without_hosts_needs_approval(call, site):
    result = call(credential("[]"), url=f"{site.url}/echo", credential="github")
    assert result.is_error
    assert "needs approval" in result.content and "no hosts list" in result.content
    assert site.hits == []
    approved = call(credential("[]"), approver=Approver("auto"), url=f"{site.url}/echo", credential="github")
    assert not approved.is_error
    assert site.hits[-1].headers["authorization"] == f"Bearer {TOKEN}"


def test_post_needs_approval_and_sends_json_once_approved(call, site):
    refused = call("", method="POST", url=f"{site.url}/items", json={"name": "buoy"})
    assert refused.is_error and "needs approval" in refused.content
    assert "POST 127.0.0.1:" in refused.content  # the pattern that would allow it
    assert site.hits == []
    result = call("", approver=Approver("auto"), method="POST", url=f"{site.url}/items", json={"name": "buoy"})
    assert not result.is_error, result.content
    assert site.hits[-1].json() == {"name": "buoy"}
    assert site.hits[-1].headers["content-type"] == "application/json"
    assert result.content.startswith("HTTP 201 Created (POST ")
    assert "location: /items/7" in result.content
    assert "abc123456" not in result.content  # cookies are not shown


def test_an_allowed_pattern_covers_one_method_on_one_host(call, site):
    host = site.url.removeprefix("http://")
    approver = Approver("deny", allowed=[f"POST {host} *"])
    result = call("", approver=approver, method="POST", url=f"{site.url}/items", body='{"raw": true}',
                  headers={"Content-Type": "application/json"})
    assert not result.is_error, result.content
    assert site.hits[-1].body == b'{"raw": true}'
    deleted = call("", approver=approver, method="DELETE", url=f"{site.url}/items")
    assert deleted.is_error and "needs approval" in deleted.content


def test_confirm_methods_can_be_relaxed(call, site):
    result = call('[http]\nconfirm_methods = ["DELETE"]\n', method="POST", url=f"{site.url}/items", json={})
    assert not result.is_error, result.content


def test_large_responses_are_cut_while_downloading(call, site):
    site.page("/big", "x" * 3_000_000, "text/plain")
    result = call("[http]\nmax_response_bytes = 1000\n", url=f"{site.url}/big")
    assert not result.is_error
    assert "response cut at 1000 bytes" in result.content
    assert result.content.count("x") < 1100


def test_a_slow_server_times_out(call, site):
    site.route("GET", "/slow", lambda hit: (time.sleep(5), Answer("late"))[1])
    started = time.monotonic()
    result = call("[http]\ntimeout = 0.3\n", url=f"{site.url}/slow")
    assert result.is_error and "timed out after 0.3s" in result.content
    assert time.monotonic() - started < 3


def test_binary_bodies_are_described_not_dumped(call, site):
    site.page("/logo.png", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, "image/png")
    result = call("", url=f"{site.url}/logo.png")
    assert "[binary body: image/png, 1.0 KB; not shown]" in result.content


def test_errors_the_user_must_fix_name_the_key_or_variable(call, site):
    bad = call('[http.credentials.github]\nvalue = "x"\nhosts = "api.github.com"\n', url=f"{site.url}/echo")
    assert bad.is_error and "[http.credentials.github].hosts must be a list" in bad.content
    missing = call('[http.credentials.ci]\nvalue = "token ${CI_TOKEN}"\nhosts = ["127.0.0.1"]\n',
                   url=f"{site.url}/echo", credential="ci")
    assert missing.is_error and "needs CI_TOKEN, which is not set" in missing.content
    unknown = call(credential(), url=f"{site.url}/echo", credential="gitlab")
    assert unknown.is_error and "Unknown credential 'gitlab' (known: github)" in unknown.content
    assert site.hits == []


def test_model_input_is_never_expanded_as_a_secret_reference(call, site):
    result = call("", url=f"{site.url}/echo", headers={"X-Try": "${GITHUB_TOKEN}"})
    assert site.hits[-1].headers["x-try"] == "${GITHUB_TOKEN}"
    assert TOKEN not in result.content


def test_http_error_statuses_come_back_to_the_model(call, site):
    site.route("GET", "/limited", lambda hit: Answer.json({"message": "slow down"}, 429, {"Retry-After": "30"}))
    result = call("", url=f"{site.url}/limited")
    assert not result.is_error  # the model reads the status and decides
    assert result.content.startswith("HTTP 429 Too Many Requests")
    assert "retry-after: 30" in result.content
    assert json.loads(result.content.split("\n\n", 1)[1]) == {"message": "slow down"}


def test_an_unauthorized_answer_names_the_credentials_for_that_host(call, site):
    site.route("GET", "/private", lambda hit: Answer.json({"message": "Requires authentication"}, 401))
    result = call(credential(), url=f"{site.url}/private")
    assert result.content.startswith("HTTP 401 Unauthorized")
    assert "[credentials configured for this host: github; pass credential=NAME]" in result.content


def test_the_toolset_declares_exactly_its_tools():
    from ember.tools.builtin import BUILTIN_TOOLSETS

    declared = next(tools for name, _, _, tools in BUILTIN_TOOLSETS if name == "http")
    assert [t.name for t in builtin_registry(None, plugins=False).tools_in("http")] == list(declared)


def test_end_to_end_the_model_and_the_store_never_see_the_secret(ember_home, tmp_path, site):
    """The real `ember run`: the fake model asks for the credential by name; the token (only in the
    environment, not in .env) reaches the API, never the model's next request nor the database."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from tests.fakes.openai_server import FakeOpenAI, Reply

    (ember_home / "config.toml").write_text(credential())
    call = {"name": "http_request", "arguments": {"url": f"{site.url}/echo", "credential": "github"}}
    with FakeOpenAI([Reply(tool_calls=[call])], responder=lambda request: Reply(text="done")) as fake:
        env = {**os.environ, "EMBER_HOME": str(ember_home), "EMBER_WORKSPACE": str(tmp_path),
               "EMBER_PROVIDER": "openai", "EMBER_BASE_URL": fake.base_url, "EMBER_MODEL": "fake-model",
               "GITHUB_TOKEN": TOKEN}
        ember = str(Path(sys.executable).parent / "ember")
        done = subprocess.run([ember, "run", "call the API"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert site.hits[-1].headers["authorization"] == f"Bearer {TOKEN}"
    tool_message = [m for m in fake.requests[-1]["messages"] if m["role"] == "tool"][-1]
    assert tool_message["content"].startswith("HTTP 200 OK") and "[REDACTED]" in tool_message["content"]
    assert TOKEN not in json.dumps(fake.requests[-1])
    assert TOKEN.encode() not in b"".join(p.read_bytes() for p in ember_home.glob("ember.db*"))
