"""An unusable EMBER_HOME (a regular file, unreadable, read-only) is one clear line and a non-zero
exit from every command, and `ember doctor` says what is wrong without blaming a healthy database;
doctor also points out an API key written in config.toml in clear."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from tests.e2e.conftest import EMBER

COMMANDS = [
    ("run", "hello"),
    ("chat",),
    (),
    ("sessions", "list"),
    ("sessions", "show", "x"),
    ("memory", "search", "x"),
    ("skills", "list"),
    ("config", "show"),
    ("tools", "list"),
    ("models", "--offline"),
]

as_root = pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions; run as a normal user")


def _assert_one_clear_line(result, needle: str) -> None:
    assert result.returncode != 0, (result.args, result.stdout)
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stderr.startswith("ember: error: "), (result.args, result.stderr)
    assert result.stderr.count("\n") == 1, (result.args, result.stderr)
    assert needle in result.stderr, (result.args, result.stderr)


@pytest.fixture
def with_model(ember, fake):
    ember.point_at(fake)
    return ember


def test_a_home_that_is_a_file_is_one_line_from_every_command(with_model, tmp_path):
    ember = with_model
    home = tmp_path / "home-file"
    home.write_text("oops\n")
    ember.env["EMBER_HOME"] = str(home)
    for args in COMMANDS:
        _assert_one_clear_line(ember(*args, input="hello\n"), "is a file, not a folder")
    assert home.read_text() == "oops\n"


def test_doctor_reports_a_home_that_is_a_file(ember, tmp_path):
    home = tmp_path / "home-file"
    home.write_text("oops\n")
    ember.env["EMBER_HOME"] = str(home)
    result = ember("doctor", "--offline", "--json")
    assert result.returncode == 1
    checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    assert not checks["home"]["ok"] and "is a file" in checks["home"]["detail"]
    assert "set EMBER_HOME" in checks["home"]["fix"]


def _healthy_database(ember) -> None:
    assert ember("sessions", "list").returncode == 0
    assert (ember.home / "ember.db").exists()


@as_root
def test_a_read_only_home_is_one_line_and_doctor_does_not_blame_the_database(with_model):
    ember = with_model
    _healthy_database(ember)
    ember.home.chmod(0o500)
    try:
        for args in (("run", "hello"), ("chat",), ("sessions", "list")):
            _assert_one_clear_line(ember(*args, input="hello\n"), "is read-only")
        _assert_doctor_on_a_read_only_home(ember("doctor", "--offline", "--json"))
    finally:
        ember.home.chmod(0o700)


@as_root
def test_an_unreadable_home_is_one_line_and_doctor_says_so(with_model):
    ember = with_model
    _healthy_database(ember)
    ember.home.chmod(0o000)
    try:
        for args in (("run", "hello"), ("chat",), ("sessions", "list"), ("config", "show")):
            _assert_one_clear_line(ember(*args, input="hello\n"), "cannot be read")
        result = ember("doctor", "--offline", "--json")
        checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
        assert result.returncode == 1 and not checks["home"]["ok"] and "chmod" in checks["home"]["fix"]
    finally:
        ember.home.chmod(0o700)


def _read_only_mount(ember, *args: str) -> subprocess.CompletedProcess:
    """`ember ARGS` with EMBER_HOME bind-mounted read-only in a private mount namespace: a read-only
    home that root cannot write either."""
    script = ('mount --bind "$EMBER_HOME" "$EMBER_HOME" && mount -o remount,ro,bind "$EMBER_HOME" "$EMBER_HOME" '
              '|| exit 99; exec "$@"')
    return subprocess.run(["unshare", "-m", "sh", "-c", script, "sh", EMBER, *args], env=ember.env,
                          cwd=ember.workspace, input="hello\n", capture_output=True, text=True, timeout=60)


def test_a_read_only_mounted_home_is_one_line_and_doctor_does_not_blame_the_database(with_model):
    ember = with_model
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("mounting needs root and unshare (the chmod test covers normal users)")
    _healthy_database(ember)
    if _read_only_mount(ember, "--version").returncode == 99:
        pytest.skip("no permission to bind-mount here")
    for args in (("run", "hello"), ("chat",), ("sessions", "list")):
        _assert_one_clear_line(_read_only_mount(ember, *args), "is read-only")
    _assert_doctor_on_a_read_only_home(_read_only_mount(ember, "doctor", "--offline", "--json"))


def _assert_doctor_on_a_read_only_home(result) -> None:
    assert result.returncode == 1
    checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    assert not checks["home"]["ok"] and "read-only" in checks["home"]["detail"]
    assert "chmod u+w" in checks["home"]["fix"]
    assert checks["database"]["ok"]  # healthy: nothing to move away or restore
    assert "move the file away" not in result.stdout and "restore a backup" not in result.stdout


def test_doctor_warns_about_an_api_key_in_config_toml_without_showing_it(ember, fake):
    ember.config(f'[model]\nbase_url = "{fake.base_url}"\napi_key = "sk-in-clear-123456789"\n'
                 f'[models.cheap]\nbase_url = "{fake.base_url}"\napi_key = "sk-cheap-clear-987654321"\n')
    result = ember("doctor", "--offline")
    assert result.returncode == 1
    assert "sk-in-clear" not in result.stdout + result.stderr
    assert "sk-cheap-clear" not in result.stdout + result.stderr
    assert "[model] api_key" in result.stdout and "EMBER_API_KEY=..." in result.stdout
    assert "[models.cheap] api_key" in result.stdout and 'api_key_env = "CHEAP_API_KEY"' in result.stdout
    assert str(ember.home / ".env") in result.stdout and "0600" in result.stdout


def test_doctor_is_quiet_about_keys_kept_in_dotenv(ember, fake):
    ember.config(f'[model]\nbase_url = "{fake.base_url}"\napi_key_env = "LOCAL_KEY"\n')
    (ember.home / ".env").write_text("LOCAL_KEY=sk-kept-in-dotenv-1\n")
    (ember.home / ".env").chmod(0o600)
    checks = json.loads(ember("doctor", "--offline", "--json").stdout)["checks"]
    assert not [c for c in checks if "api_key" in c["name"]]
