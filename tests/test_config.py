import pytest

from ember.config import ConfigError, effective_config, load_settings, parse_dotenv
from ember.models.base import Usage


def write(home, name, text):
    (home / name).write_text(text)


def test_defaults_without_files(ember_home):
    settings = load_settings()
    assert settings.home == ember_home
    assert settings.default_model.provider == "openai"
    assert settings.db_path == ember_home / "ember.db"


def test_env_overrides_toml_which_overrides_defaults(ember_home, monkeypatch):
    write(ember_home, "config.toml", '[model]\nprovider = "anthropic"\nmodel = "from-toml"\nbase_url = "http://x/"\n')
    settings = load_settings()
    assert (settings.default_model.provider, settings.default_model.model) == ("anthropic", "from-toml")
    assert settings.default_model.base_url == "http://x"
    monkeypatch.setenv("EMBER_MODEL", "from-env")
    monkeypatch.setenv("EMBER_PROVIDER", "hermes")
    settings = load_settings()
    assert (settings.default_model.provider, settings.default_model.model) == ("hermes", "from-env")


def test_dotenv_secrets_and_masking(ember_home, monkeypatch):
    write(ember_home, ".env", 'EMBER_API_KEY="sk-secret-value-123456"\n# comment\nOTHER=abc # trailing\n')
    settings = load_settings()
    assert settings.default_model.api_key == "sk-secret-value-123456"
    shown = str(effective_config(settings))
    assert "sk-secret-value-123456" not in shown
    assert "sk-secret-value-123456" in settings.secret_values()
    monkeypatch.setenv("EMBER_API_KEY", "sk-env-wins-999999")
    assert load_settings().default_model.api_key == "sk-env-wins-999999"


def test_named_models_routes_fallback_and_prices(ember_home, monkeypatch):
    monkeypatch.setenv("CHEAP_KEY", "cheap-secret-1234")
    write(ember_home, "config.toml", """
[model]
provider = "openai"
model = "big"
[models.cheap]
provider = "openai"
model = "small"
api_key_env = "CHEAP_KEY"
[routes]
learning = "cheap"
fallback = ["cheap"]
[prices.big]
input = 2.0
output = 8.0
""")
    settings = load_settings()
    assert settings.model_for("learning").model == "small"
    assert settings.model_for("chat").model == "big"
    assert settings.models["cheap"].api_key == "cheap-secret-1234"
    assert settings.fallback == ["cheap"]
    assert settings.cost_of("big", Usage(1_000_000, 500_000)) == pytest.approx(6.0)
    assert settings.cost_of("unpriced", Usage(10, 10)) == 0.0


@pytest.mark.parametrize(
    "text, needle",
    [
        ("[model\nprovider = 1", "line 1"),
        ('[model]\nprovider = "gemini"\n', "unknown provider 'gemini'"),
        ('[routes]\nchat = "nope"\n', "names no model"),
        ('[agent]\nmax_steps = "many"\n', "[agent].max_steps must be an integer"),
        ('[routes]\nfallback = ["ghost"]\n', "'ghost'"),
    ],
)
def test_broken_config_is_a_clear_error(ember_home, text, needle):
    write(ember_home, "config.toml", text)
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert needle in str(info.value)


def test_broken_toml_names_the_line(ember_home):
    write(ember_home, "config.toml", '[model]\nprovider = "openai"\nmodel = \n')
    with pytest.raises(ConfigError, match=r"line 3"):
        load_settings()


def test_unknown_provider_from_env(monkeypatch):
    monkeypatch.setenv("EMBER_PROVIDER", "bogus")
    with pytest.raises(ConfigError, match="unknown provider"):
        load_settings()


def test_bad_dotenv_line_is_reported():
    with pytest.raises(ConfigError, match="line 2"):
        parse_dotenv("A=1\nthis is not a pair\n")


def test_context_window_from_the_catalog_unless_set(ember_home, monkeypatch):
    monkeypatch.setenv("EMBER_MODEL", "gpt-4o-mini")
    assert load_settings().default_model.context_window == 128_000
    write(ember_home, "config.toml", "[model]\ncontext_window = 8192\n")
    assert load_settings().default_model.context_window == 8192


def test_hermes_endpoint_is_validated(ember_home):
    write(ember_home, "config.toml", '[model]\nprovider = "hermes"\nendpoint = "raw"\n')
    with pytest.raises(ConfigError, match="endpoint"):
        load_settings()


def test_missing_key_for_hosted_endpoints(monkeypatch):
    from ember.config import missing_key_message

    monkeypatch.setenv("EMBER_PROVIDER", "anthropic")
    assert "EMBER_API_KEY" in missing_key_message(load_settings().default_model)
    monkeypatch.setenv("EMBER_PROVIDER", "openai")
    monkeypatch.setenv("EMBER_BASE_URL", "http://127.0.0.1:11434/v1")
    assert missing_key_message(load_settings().default_model) is None
    monkeypatch.setenv("EMBER_API_KEY", "sk-present-123456")
    monkeypatch.setenv("EMBER_PROVIDER", "anthropic")
    assert missing_key_message(load_settings().default_model) is None
