"""Where the tools work, which door picks the default, the openrouter provider name, the home's checks."""

from __future__ import annotations

import pytest

from ember.config import ConfigError, HomeError, home_problem, load_settings
from ember.runtime import open_store, prepare_workspace


def test_the_default_is_the_home_workspace_for_long_running_doors(ember_home, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    assert settings.workspace is None and settings.workspace_dir == ember_home / "workspace"


def test_terminal_doors_default_to_the_current_directory(ember_home, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert load_settings(default_workspace="cwd").workspace_dir == tmp_path


@pytest.mark.parametrize("door", ["home", "cwd"])
def test_a_configured_workspace_wins_for_every_door(ember_home, tmp_path, monkeypatch, door):
    monkeypatch.chdir(tmp_path)
    (ember_home / "config.toml").write_text('workspace = "~/projects"\n')
    monkeypatch.setenv("HOME", str(tmp_path))
    settings = load_settings(default_workspace=door)
    assert settings.workspace_dir == tmp_path / "projects"
    assert settings.workspace_from == "workspace in config.toml"
    monkeypatch.setenv("EMBER_WORKSPACE", "relative/ws")
    settings = load_settings(default_workspace=door)
    assert settings.workspace_dir == tmp_path / "relative" / "ws"  # made absolute once, at load
    assert settings.workspace_from == "EMBER_WORKSPACE"


def test_an_unknown_default_is_a_bug():
    with pytest.raises(ValueError):
        load_settings(default_workspace="somewhere")


def test_prepare_workspace_creates_only_the_last_folder(ember_home, tmp_path, monkeypatch):
    monkeypatch.setenv("EMBER_WORKSPACE", str(tmp_path / "missing" / "ws"))
    with pytest.raises(ConfigError, match="neither does its parent"):
        prepare_workspace(load_settings())
    assert not (tmp_path / "missing").exists()
    monkeypatch.setenv("EMBER_WORKSPACE", str(tmp_path / "ws"))
    assert prepare_workspace(load_settings()) == tmp_path / "ws"
    assert prepare_workspace(load_settings()) is None  # there now


def test_the_default_workspace_is_created_quietly(ember_home):
    settings = load_settings()
    assert prepare_workspace(settings) is None
    assert (ember_home / "workspace").is_dir()


@pytest.mark.parametrize("where", ["env", "model", "models"])
def test_openrouter_is_the_openai_provider_at_openrouter(ember_home, monkeypatch, where):
    if where == "env":
        monkeypatch.setenv("EMBER_PROVIDER", "openrouter")
        spec = load_settings().default_model
    elif where == "model":
        (ember_home / "config.toml").write_text('[model]\nprovider = "openrouter"\nmodel = "x/y"\n')
        spec = load_settings().default_model
    else:
        (ember_home / "config.toml").write_text('[models.cheap]\nprovider = "openrouter"\n')
        spec = load_settings().models["cheap"]
    assert spec.provider == "openai"
    assert spec.base_url == "https://openrouter.ai/api/v1"
    assert spec.model == ("x/y" if where == "model" else "openai/gpt-4o-mini")


def test_an_unknown_provider_lists_openrouter_too(ember_home, monkeypatch):
    monkeypatch.setenv("EMBER_PROVIDER", "openruter")
    with pytest.raises(ConfigError, match="openai, anthropic, hermes, openrouter"):
        load_settings()


def test_a_home_that_is_a_file(tmp_path):
    home = tmp_path / "home"
    home.write_text("x")
    assert "is a file" in home_problem(home)
    with pytest.raises(HomeError, match="is a file, not a folder"):
        load_settings(home)


def test_a_missing_home_is_fine_and_one_under_a_file_cannot_be_created(tmp_path):
    assert home_problem(tmp_path / "new", write=True) is None
    (tmp_path / "a-file").write_text("x")
    settings = load_settings(tmp_path / "a-file" / "home")
    with pytest.raises(HomeError, match="cannot create the Ember home"):
        open_store(settings)
