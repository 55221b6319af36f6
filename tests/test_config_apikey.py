"""OPENAI_API_KEY / ANTHROPIC_API_KEY go only to their own hosts, never to a local or third-party endpoint."""

import pytest

from ember.config import load_settings, missing_key_message
from ember.models.base import Message
from ember.models.catalog import build_provider
from tests.fakes.openai_server import FakeOpenAI

OPENAI_KEY = "sk-openai-user-key-0123456789"
ANTHROPIC_KEY = "sk-ant-user-key-0123456789"


def configure(home, config: str, dotenv: str = f"OPENAI_API_KEY={OPENAI_KEY}\nANTHROPIC_API_KEY={ANTHROPIC_KEY}\n"):
    (home / "config.toml").write_text(config)
    (home / ".env").write_text(dotenv)


@pytest.mark.parametrize(
    "config, expected",
    [
        ("", OPENAI_KEY),  # the provider default, https://api.openai.com/v1
        ('[model]\nprovider = "openai"\nbase_url = "https://api.openai.com/v1/"\n', OPENAI_KEY),
        ('[model]\nprovider = "openai"\nbase_url = "https://API.OpenAI.com:443/v1"\n', OPENAI_KEY),
        ('[model]\nprovider = "anthropic"\n', ANTHROPIC_KEY),  # https://api.anthropic.com
        ('[model]\nprovider = "anthropic"\nbase_url = "https://api.anthropic.com"\n', ANTHROPIC_KEY),
        # Anthropic's OpenAI-compatible endpoint is still Anthropic's host: its own key, not OpenAI's.
        ('[model]\nprovider = "openai"\nbase_url = "https://api.anthropic.com/v1/"\n', ANTHROPIC_KEY),
        # Everything else gets no well-known key.
        ('[model]\nprovider = "openai"\nbase_url = "http://127.0.0.1:11434/v1"\n', None),
        ('[model]\nprovider = "openai"\nbase_url = "https://openrouter.ai/api/v1"\n', None),
        ('[model]\nprovider = "anthropic"\nbase_url = "https://llm-proxy.example.com"\n', None),
        ('[model]\nprovider = "hermes"\n', None),
        ('[model]\nprovider = "openai"\nbase_url = "http://api.openai.com/v1"\n', None),  # not over plain http
        ('[model]\nprovider = "openai"\nbase_url = "https://api.openai.com:8443/v1"\n', None),
        ('[model]\nprovider = "openai"\nbase_url = "https://api.openai.com.evil.example/v1"\n', None),
        ('[model]\nprovider = "openai"\nbase_url = "https://api.openai.com@evil.example/v1"\n', None),
        ('[model]\nprovider = "openai"\nbase_url = "https://evil.example/api.openai.com/v1"\n', None),
    ],
)
def test_a_well_known_key_goes_only_to_its_own_host(ember_home, config, expected):
    configure(ember_home, config)
    assert load_settings().default_model.api_key == expected


def test_ember_base_url_is_checked_too(ember_home, monkeypatch):
    configure(ember_home, "")
    monkeypatch.setenv("EMBER_BASE_URL", "http://127.0.0.1:11434/v1")
    assert load_settings().default_model.api_key is None
    monkeypatch.setenv("EMBER_BASE_URL", "https://api.openai.com/v1")
    assert load_settings().default_model.api_key == OPENAI_KEY


def test_the_environment_is_scoped_like_dotenv(ember_home, monkeypatch):
    (ember_home / "config.toml").write_text('[model]\nbase_url = "http://127.0.0.1:11434/v1"\n')
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    assert load_settings().default_model.api_key is None


@pytest.mark.parametrize("base_url", ["http://127.0.0.1:11434/v1", "https://openrouter.ai/api/v1"])
def test_ember_api_key_and_named_keys_still_work_for_any_host(ember_home, monkeypatch, base_url):
    configure(ember_home, f'[model]\nbase_url = "{base_url}"\n', f"OPENAI_API_KEY={OPENAI_KEY}\nMY_KEY=sk-mine-123456\n")
    monkeypatch.setenv("EMBER_API_KEY", "sk-ember-key-123456")
    assert load_settings().default_model.api_key == "sk-ember-key-123456"
    monkeypatch.delenv("EMBER_API_KEY")
    configure(ember_home, f'[model]\nbase_url = "{base_url}"\napi_key_env = "MY_KEY"\n',
              f"OPENAI_API_KEY={OPENAI_KEY}\nMY_KEY=sk-mine-123456\n")
    assert load_settings().default_model.api_key == "sk-mine-123456"
    configure(ember_home, f'[model]\nbase_url = "{base_url}"\napi_key = "sk-inline-123456"\n')
    assert load_settings().default_model.api_key == "sk-inline-123456"
    # Naming OPENAI_API_KEY explicitly is the user's choice, and is honoured for any host.
    configure(ember_home, f'[model]\nbase_url = "{base_url}"\napi_key_env = "OPENAI_API_KEY"\n')
    assert load_settings().default_model.api_key == OPENAI_KEY


def test_a_named_key_that_is_unset_does_not_fall_back(ember_home):
    configure(ember_home, '[model]\napi_key_env = "NOT_SET_ANYWHERE"\n')
    assert load_settings().default_model.api_key is None


def test_a_hosted_third_party_without_its_own_key_says_so(ember_home):
    configure(ember_home, '[model]\nbase_url = "https://openrouter.ai/api/v1"\n')
    message = missing_key_message(load_settings().default_model)
    assert message is not None and "EMBER_API_KEY" in message


def test_the_openai_key_is_still_redacted_where_it_is_not_sent(ember_home):
    configure(ember_home, '[model]\nbase_url = "http://127.0.0.1:11434/v1"\n')
    assert OPENAI_KEY in load_settings().secret_values()


def test_a_local_server_receives_no_authorization_header(ember_home):
    with FakeOpenAI() as fake:
        fake.add("hello")
        configure(ember_home, f'[model]\nprovider = "openai"\nbase_url = "{fake.base_url}"\nmodel = "m"\n')
        provider = build_provider(load_settings().default_model)
        assert provider.complete([Message("user", "hi")]).text == "hello"
        headers = {k.lower(): v for k, v in fake.requests[0].headers.items()}
    assert "authorization" not in headers and "x-api-key" not in headers
    assert OPENAI_KEY not in str(headers)
