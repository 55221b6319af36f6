"""The ssh toolset against a real OpenSSH server on 127.0.0.1 (tests/fakes/sshd.py).

The server logs in as the user running the tests, on this same machine, so a remote command's
effects (files, processes) can be checked locally.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("asyncssh", reason="the ssh tools need asyncssh: pip install 'ember-agent[ssh]'")

from ember.config import load_settings  # noqa: E402
from ember.models.base import Cancelled, ToolCall  # noqa: E402
from ember.security.approval import Approver  # noqa: E402
from ember.tools.builtin import builtin_registry  # noqa: E402
from ember.tools.registry import ToolContext, ToolResult  # noqa: E402
from tests.fakes.sshd import Sshd, free_port, keygen  # noqa: E402


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    with Sshd(tmp_path_factory.mktemp("sshd")) as server:
        yield server


class Remote:
    """Writes config.toml for host "box" and runs ssh tools through the real registry."""

    def __init__(self, server: Sshd, home: Path, workspace: Path) -> None:
        self.server, self.home, self.workspace = server, home, workspace
        self.registry = builtin_registry(plugins=False)
        self.approver = Approver()  # "deny": nobody to ask, as in `ember run`
        self.cancel = threading.Event()
        self.max_output_chars = 20_000
        self.configure()

    def configure(self, extra: str = "", key: Path | None = None, ssh: str = "", known: bool = True) -> None:
        (self.home / "config.toml").write_text(
            f"[ssh]\n{ssh}\n[ssh.hosts.box]\nhost = \"127.0.0.1\"\nport = {self.server.port}\n"
            f"user = \"{self.server.user}\"\nkey_file = \"{key or self.server.user_key}\"\n{extra}\n"
        )
        known_hosts = self.home / "known_hosts"
        if known:
            known_hosts.write_text(self.server.host_key_line())
        elif known_hosts.exists():
            known_hosts.unlink()

    def __call__(self, name: str, **arguments) -> ToolResult:
        ctx = ToolContext(
            workspace=self.workspace, settings=load_settings(), approver=self.approver, cancel=self.cancel,
            max_output_chars=self.max_output_chars,
        )
        return self.registry.execute(ToolCall(id="1", name=name, arguments=arguments), ctx)


@pytest.fixture
def remote(sshd, ember_home, tmp_path) -> Remote:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    return Remote(sshd, ember_home, workspace)


def gone(pid: int, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        stat = Path(f"/proc/{pid}/stat")
        try:
            if stat.read_text().split(")")[-1].split()[0] == "Z":
                return True
        except FileNotFoundError:
            return True
        time.sleep(0.05)
    return False


def test_run_returns_output_and_exit_code(remote):
    result = remote("ssh_run", host="box", command="echo out; echo err >&2; cat; exit 3")
    assert result.content == "out\nerr\n[exit code 3]"
    assert not result.is_error


def test_connection_is_reused_between_calls(remote, sshd):
    logins_before = sshd.log.read_text().count("Accepted publickey")
    for n in range(3):
        assert remote("ssh_run", host="box", command=f"echo {n}").content == f"{n}\n[exit code 0]"
    assert sshd.log.read_text().count("Accepted publickey") - logins_before == 1


def test_unknown_host_key_is_refused_with_a_way_to_trust_it(remote, tmp_path):
    remote.configure(known=False)
    marker = tmp_path / "ran"
    result = remote("ssh_run", host="box", command=f"touch {marker}")
    assert result.is_error
    assert "not in" in result.content and "known_hosts" in result.content
    assert f"ssh-keyscan -p {remote.server.port} 127.0.0.1 >>" in result.content
    assert "trust_on_first_use = true" in result.content
    assert not marker.exists()


def test_trust_on_first_use_records_the_key_and_refuses_a_changed_one(remote, tmp_path):
    remote.configure("trust_on_first_use = true", known=False)
    first = remote("ssh_run", host="box", command="echo hi")
    assert "trusted box on first use" in first.content and "SHA256:" in first.content
    assert first.content.endswith("hi\n[exit code 0]")
    assert (remote.home / "known_hosts").read_text() == remote.server.host_key_line()
    assert remote("ssh_run", host="box", command="echo again").content == "again\n[exit code 0]"

    impostor = keygen(tmp_path / "impostor").with_suffix(".pub").read_text().split()[:2]
    (remote.home / "known_hosts").write_text(f"[127.0.0.1]:{remote.server.port} {' '.join(impostor)}\n")
    marker = tmp_path / "ran"
    result = remote("ssh_run", host="box", command=f"touch {marker}")
    assert result.is_error and "does NOT match" in result.content and "ssh-keygen -R" in result.content
    assert not marker.exists()


def test_timeout_kills_the_remote_command_and_its_children(remote, tmp_path):
    pids = tmp_path / "pids"
    started = time.monotonic()
    result = remote("ssh_run", host="box", command=f"sleep 60 & echo $! > {pids}; echo $$ >> {pids}; echo begun; sleep 60",
                    timeout=1)
    assert time.monotonic() - started < 15
    assert result.is_error and "timed out after 1s" in result.content and "begun" in result.content
    for pid in map(int, pids.read_text().split()):
        assert gone(pid), f"remote process {pid} survived the timeout"


def cancel_when(path: Path, cancel: threading.Event) -> None:
    """Set ``cancel`` as soon as ``path`` has content (from another thread)."""
    def watch() -> None:
        deadline = time.monotonic() + 20
        while not (path.exists() and path.read_text().strip()) and time.monotonic() < deadline:
            time.sleep(0.02)
        cancel.set()

    threading.Thread(target=watch, daemon=True).start()


def test_cancel_stops_the_call_and_the_remote_command(remote, tmp_path):
    pid_file = tmp_path / "pid"
    cancel_when(pid_file, remote.cancel)
    with pytest.raises(Cancelled):
        remote("ssh_run", host="box", command=f"sleep 60 & echo $! > {pid_file}; wait")
    assert gone(int(pid_file.read_text()))


def test_an_immediate_cancel_leaves_nothing_running(remote, tmp_path):
    """Cancelled at once: either the command never started, or the stop waits for its pid and kills it."""
    pid_file = tmp_path / "pid"
    remote.cancel.set()
    started = time.monotonic()
    with pytest.raises(Cancelled):
        remote("ssh_run", host="box", command=f"echo $$ > {pid_file}; exec sleep 60")
    assert time.monotonic() - started < 15
    time.sleep(1.5)  # time for a command that did start to write its pid
    if pid_file.exists():
        assert gone(int(pid_file.read_text()), seconds=20)


def test_long_output_keeps_head_and_tail(remote):
    remote.max_output_chars = 2000
    result = remote("ssh_run", host="box", command="echo FIRST; head -c 300000 /dev/zero | tr '\\0' x; echo; echo LAST")
    assert result.content.startswith("FIRST\n") and result.content.endswith("LAST\n[exit code 0]")
    assert "cut from the middle" in result.content and len(result.content) <= 2000


def test_upload_and_download_files_and_folders(remote, tmp_path):
    payload = bytes(range(256)) * 1000
    (remote.workspace / "data.bin").write_bytes(payload)
    (remote.workspace / "site" / "css").mkdir(parents=True)
    (remote.workspace / "site" / "index.html").write_text("<h1>hi</h1>")
    (remote.workspace / "site" / "css" / "a.css").write_text("h1 {}")
    remote_dir = tmp_path / "remote"
    remote_dir.mkdir()

    up = remote("ssh_upload", host="box", local_path="data.bin", remote_path=str(remote_dir / "data.bin"))
    assert not up.is_error, up.content
    assert "250.0 KiB" in up.content
    assert (remote_dir / "data.bin").read_bytes() == payload
    assert not remote("ssh_upload", host="box", local_path="site", remote_path=str(remote_dir / "site")).is_error
    assert (remote_dir / "site" / "css" / "a.css").read_text() == "h1 {}"

    down = remote("ssh_download", host="box", remote_path=str(remote_dir / "data.bin"), local_path="copies/data.bin")
    assert not down.is_error, down.content
    assert (remote.workspace / "copies" / "data.bin").read_bytes() == payload
    assert not remote("ssh_download", host="box", remote_path=str(remote_dir / "site"), local_path="mirror").is_error
    assert (remote.workspace / "mirror" / "index.html").read_text() == "<h1>hi</h1>"

    missing = remote("ssh_download", host="box", remote_path=str(remote_dir / "nope"), local_path="x")
    assert missing.is_error and "No such file" in missing.content


def test_transfers_outside_the_workspace_need_approval(remote, tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("private")
    result = remote("ssh_upload", host="box", local_path=str(outside), remote_path=str(tmp_path / "sent.txt"))
    assert result.is_error and "needs approval" in result.content and "outside the workspace" in result.content
    assert not (tmp_path / "sent.txt").exists()

    result = remote("ssh_download", host="box", remote_path=str(outside), local_path=str(tmp_path / "got.txt"))
    assert result.is_error and "needs approval" in result.content
    assert not (tmp_path / "got.txt").exists()

    remote.approver = Approver(mode="auto")
    assert not remote("ssh_download", host="box", remote_path=str(outside), local_path=str(tmp_path / "got.txt")).is_error
    assert (tmp_path / "got.txt").read_text() == "private"


def test_dangerous_remote_commands_need_approval_scoped_to_the_host(remote, tmp_path):
    target = tmp_path / "victim"
    target.mkdir()
    command = f"rm -rf {target}"
    refused = remote("ssh_run", host="box", command=command)
    assert refused.is_error and "needs approval" in refused.content and f'"box:rm -rf {target}"' in refused.content
    assert target.exists()

    remote.approver = Approver(allowed=[f"rm -rf {tmp_path}/*"])  # allowed locally: says nothing about box
    assert remote("ssh_run", host="box", command=command).is_error and target.exists()

    remote.approver = Approver(allowed=[f"box:rm -rf {tmp_path}/*"])
    assert remote("ssh_run", host="box", command=command).content == "(no output)\n[exit code 0]"
    assert not target.exists()
    assert remote("ssh_run", host="box", command="echo 'rm -rf /' is text").content.startswith("rm -rf / is text")


def test_approve_all_asks_before_every_command(remote):
    remote.configure("approve_all = true")
    result = remote("ssh_run", host="box", command="echo hi")
    assert result.is_error and "approve_all" in result.content
    remote.approver = Approver(mode="auto")
    assert remote("ssh_run", host="box", command="echo hi").content == "hi\n[exit code 0]"


def test_only_configured_hosts_can_be_reached(remote):
    result = remote("ssh_run", host="prod", command="echo hi")
    assert result.is_error and "Unknown SSH host 'prod'" in result.content and "box" in result.content


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ('port = "22"', "[ssh.hosts.box].port must be an integer"),
        ("colour = 3", "unknown key [ssh.hosts.box].colour"),
        ("connect_timeout = -1", "[ssh.hosts.box].connect_timeout must be greater than 0"),
    ],
)
def test_bad_configuration_names_the_key(remote, extra, message):
    text = (remote.home / "config.toml").read_text().replace(f"port = {remote.server.port}\n", "")
    (remote.home / "config.toml").write_text(text + extra + "\n")
    result = remote("ssh_run", host="box", command="true")
    assert result.is_error and message in result.content


def test_encrypted_key_passphrase_comes_from_dotenv_and_never_shows(remote):
    passphrase = "correct horse battery staple"
    key = remote.server.add_user_key("locked", passphrase=passphrase)
    remote.configure('key_passphrase_env = "BOX_KEY_PASSPHRASE"', key=key)
    missing = remote("ssh_run", host="box", command="echo hi")
    assert missing.is_error and "BOX_KEY_PASSPHRASE is not set" in missing.content

    (remote.home / ".env").write_text("BOX_KEY_PASSPHRASE=wrong passphrase\n")
    wrong = remote("ssh_run", host="box", command="echo hi")
    assert wrong.is_error and "Cannot load key_file" in wrong.content and "wrong passphrase" not in wrong.content

    (remote.home / ".env").write_text(f"BOX_KEY_PASSPHRASE={passphrase}\n")
    result = remote("ssh_run", host="box", command="env; echo done")
    assert result.content.endswith("done\n[exit code 0]")
    assert passphrase not in result.content


def test_a_key_the_server_does_not_accept_is_refused_clearly(remote, tmp_path):
    remote.configure(key=keygen(tmp_path / "stranger"))
    result = remote("ssh_run", host="box", command="echo hi")
    assert result.is_error and "was refused" in result.content and "key_file" in result.content


def test_nothing_listening_is_a_clear_error(remote):
    port = free_port()
    text = (remote.home / "config.toml").read_text().replace(str(remote.server.port), str(port))
    (remote.home / "config.toml").write_text(text + "trust_on_first_use = true\n")
    result = remote("ssh_run", host="box", command="echo hi")
    assert result.is_error and f"Could not connect to box (127.0.0.1:{port})" in result.content


def test_ssh_tools_are_declared_in_the_builtin_index():
    registry = builtin_registry(plugins=False)
    assert [t.name for t in registry.tools_in("ssh")] == ["ssh_run", "ssh_upload", "ssh_download"]


def test_the_real_ember_executable_runs_a_remote_command_and_exits_cleanly(remote, sshd):
    from tests.e2e.conftest import EmberRunner
    from tests.fakes.openai_server import FakeOpenAI, Reply

    ember = EmberRunner(remote.home, remote.workspace)
    script = [
        Reply(tool_calls=[{"name": "ssh_run", "arguments": {"host": "box", "command": "echo remote-$((6 * 7))"}}]),
        Reply(text="It printed remote-42."),
    ]
    with FakeOpenAI(script) as fake:
        ember.point_at(fake)
        result = ember("run", "--json", "run it on box")
    assert result.returncode == 0, result.stderr
    tool_result = [m for m in fake.requests[1]["messages"] if m["role"] == "tool"][-1]["content"]
    assert tool_result == "remote-42\n[exit code 0]"
    assert "Traceback" not in result.stderr and "Exception" not in result.stderr
