"""Where the tools work: `ember` and `ember run` in the directory they are started from, unless
`workspace` in config.toml or EMBER_WORKSPACE says otherwise; a mistyped workspace is an error."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.e2e.conftest import EMBER
from tests.fakes.openai_server import FakeOpenAI, Reply


def _tool_result(request):
    results = [m for m in request["messages"] if m["role"] == "tool"]
    return Reply(text=f"tool said: {results[-1]['content'].strip()}")


def _read_readme():
    return Reply(tool_calls=[{"name": "read_file", "arguments": {"path": "README.md"}}])


@pytest.fixture
def project(tmp_path):
    """A project folder with its own README.md, and a README.md in the home's workspace too."""
    folder = tmp_path / "my-project"
    folder.mkdir()
    (folder / "README.md").write_text("the project in front of the user\n")
    return folder


def _unset_workspace(ember):
    ember.env.pop("EMBER_WORKSPACE", None)


def _run_in(ember, cwd, *args, input=None):
    return subprocess.run([EMBER, *args], env=ember.env, cwd=cwd, input=input, capture_output=True, text=True,
                          timeout=60)


def test_run_reads_the_file_in_the_current_directory(ember, project):
    _unset_workspace(ember)
    (ember.home / "workspace").mkdir()
    (ember.home / "workspace" / "README.md").write_text("the wrong one, in EMBER_HOME/workspace\n")
    with FakeOpenAI([_read_readme()], responder=_tool_result) as fake:
        ember.point_at(fake)
        result = _run_in(ember, project, "run", "summarise README.md")
    assert result.returncode == 0, result.stderr
    assert "the project in front of the user" in result.stdout
    system = fake.requests[0]["messages"][0]["content"]
    assert str(project) in system  # the prompt names the folder the tools work in


def test_run_writes_inside_the_current_directory_without_asking_and_outside_only_with_approval(ember, project):
    _unset_workspace(ember)
    outside = ember.home.parent / "elsewhere.txt"
    script = [
        Reply(tool_calls=[{"name": "write_file", "arguments": {"path": "notes.txt", "content": "in\n"}}]),
        Reply(tool_calls=[{"name": "write_file", "arguments": {"path": str(outside), "content": "out\n"}}]),
        "done",
    ]
    with FakeOpenAI(script) as fake:
        ember.point_at(fake)
        result = _run_in(ember, project, "run", "--json", "write two files")
    assert result.returncode == 5, result.stderr  # the write outside the folder was refused
    assert (project / "notes.txt").read_text() == "in\n"
    assert not outside.exists()
    calls = json.loads(result.stdout)["tool_calls"]
    assert [c["is_error"] for c in calls] == [False, True]


def test_chat_works_in_the_current_directory_and_says_where(ember, project):
    _unset_workspace(ember)
    with FakeOpenAI([_read_readme()], responder=_tool_result) as fake:
        ember.point_at(fake)
        result = _run_in(ember, project, "chat", input="summarise README.md\n")
    assert result.returncode == 0, result.stderr
    assert "the project in front of the user" in result.stdout
    assert f"in {project}" in result.stdout  # the banner names the folder


@pytest.mark.parametrize("how", ["env", "config"])
def test_a_configured_workspace_still_wins(ember, project, tmp_path, how):
    other = tmp_path / "configured"
    other.mkdir()
    (other / "README.md").write_text("the configured workspace\n")
    if how == "env":
        ember.env["EMBER_WORKSPACE"] = str(other)
    else:
        _unset_workspace(ember)
        ember.config(f'workspace = "{other}"\n')
    with FakeOpenAI([_read_readme()], responder=_tool_result) as fake:
        ember.point_at(fake)
        result = _run_in(ember, project, "run", "summarise README.md")
    assert result.returncode == 0, result.stderr
    assert "the configured workspace" in result.stdout


def test_other_commands_keep_the_configured_workspace(ember, project):
    _unset_workspace(ember)
    shown = json.loads(_run_in(ember, project, "config", "show", "--json").stdout)
    assert shown["workspace"] == str(ember.home / "workspace")


def test_a_missing_parent_of_the_workspace_is_an_error_and_creates_nothing(ember, fake, tmp_path):
    ember.point_at(fake)
    ember.env["EMBER_WORKSPACE"] = str(tmp_path / "typo" / "ws")
    for args in (("run", "hello"), ("chat",)):
        result = ember(*args, input="hello\n")
        assert result.returncode == 2, result.stderr
        assert "does not exist" in result.stderr and "EMBER_WORKSPACE" in result.stderr
        assert "Traceback" not in result.stderr
    assert not (tmp_path / "typo").exists()
    assert fake.requests == []


def test_a_missing_last_component_is_created_and_said(ember, fake, tmp_path):
    fake.add("hi")
    ember.point_at(fake)
    ember.env["EMBER_WORKSPACE"] = str(tmp_path / "new-ws")
    result = ember("run", "hello")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "new-ws").is_dir()
    assert result.stderr == f"ember: created the workspace folder {tmp_path / 'new-ws'} (set by EMBER_WORKSPACE)\n"


def test_a_workspace_that_is_a_file_is_an_error(ember, fake, tmp_path):
    ember.point_at(fake)
    (tmp_path / "a-file").write_text("x")
    ember.config(f'workspace = "{tmp_path / "a-file"}"\n')
    ember.env.pop("EMBER_WORKSPACE")
    result = ember("run", "hello")
    assert result.returncode == 2
    assert "is not a folder" in result.stderr and "workspace in config.toml" in result.stderr


def test_doctor_reports_a_mistyped_workspace(ember, tmp_path):
    ember.env["EMBER_WORKSPACE"] = str(tmp_path / "typo" / "ws")
    result = ember("doctor", "--offline", "--json")
    check = next(c for c in json.loads(result.stdout)["checks"] if c["name"] == "workspace")
    assert not check["ok"] and "EMBER_WORKSPACE" in check["detail"]
