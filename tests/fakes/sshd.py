"""A real OpenSSH server on 127.0.0.1 for tests: throwaway host and user keys, a free port.

Nothing here imitates SSH: it is Debian's ``/usr/sbin/sshd`` (package ``openssh-server``) run in
the foreground (``-D -e``) with a config written to a temp dir, so the tests exercise the real
protocol, real host-key checking, real SFTP. The login user is whoever runs the tests (root in
CI, hence ``PermitRootLogin yes``)::

    from tests.fakes.sshd import Sshd, skip_without_sshd

    with Sshd(tmp_path / "sshd") as server:        # server.port, server.user, server.user_key
        server.host_key_line()                      # "[127.0.0.1]:PORT ssh-ed25519 AAAA..."
        server.add_user_key(passphrase="s3cret")    # another key, encrypted, also authorized
"""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

SSHD = "/usr/sbin/sshd"
SFTP_SERVERS = ("/usr/lib/openssh/sftp-server", "/usr/libexec/openssh/sftp-server", "/usr/libexec/sftp-server")


def skip_without_sshd() -> None:
    """Skip the calling test when OpenSSH's server or ssh-keygen is not installed."""
    if not Path(SSHD).exists() or shutil.which("ssh-keygen") is None:
        pytest.skip(f"{SSHD} or ssh-keygen is missing: install the Debian packages openssh-server openssh-client")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def keygen(path: Path, passphrase: str = "", kind: str = "ed25519") -> Path:
    """A new key pair at ``path`` (private) and ``path.pub``."""
    subprocess.run(
        ["ssh-keygen", "-q", "-t", kind, "-N", passphrase, "-C", "ember-test", "-f", str(path)],
        check=True, capture_output=True,
    )
    return path


class Sshd:
    """``/usr/sbin/sshd -D -e -f CONFIG`` on a free port; stopped (and its children) on exit."""

    def __init__(self, root: Path) -> None:
        self.root = Path(os.path.abspath(root))
        self.port = free_port()
        self.user = getpass.getuser()
        self.host_key = self.root / "host_ed25519"
        self.user_key = self.root / "user_ed25519"
        self.authorized_keys = self.root / "authorized_keys"
        self.log = self.root / "sshd.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Sshd:
        skip_without_sshd()
        self.root.mkdir(parents=True, exist_ok=True)
        keygen(self.host_key)
        keygen(self.user_key)
        self.authorized_keys.write_text(self.user_key.with_suffix(".pub").read_text())
        sftp = next((p for p in SFTP_SERVERS if Path(p).exists()), "internal-sftp")
        config = self.root / "sshd_config"
        config.write_text(
            f"Port {self.port}\nListenAddress 127.0.0.1\nHostKey {self.host_key}\n"
            f"PidFile {self.root / 'sshd.pid'}\nAuthorizedKeysFile {self.authorized_keys}\n"
            "StrictModes no\nUsePAM no\nPermitRootLogin yes\nPubkeyAuthentication yes\n"
            "PasswordAuthentication no\nKbdInteractiveAuthentication no\n"
            f"Subsystem sftp {sftp}\nLogLevel VERBOSE\nMaxStartups 100\n"
        )
        if os.geteuid() == 0:
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # the privilege-separation directory
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                [SSHD, "-D", "-e", "-f", str(config)], stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )
        self._wait_listening()
        return self

    def _wait_listening(self) -> None:
        deadline = time.monotonic() + 10
        assert self.proc is not None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sshd exited with {self.proc.returncode}:\n{self.log.read_text()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                    if sock.recv(4).startswith(b"SSH-"):
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"sshd did not start listening on {self.port}:\n{self.log.read_text()}")

    def __exit__(self, *exc: object) -> None:
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, 15)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, 9)
            self.proc.wait()

    def host_key_line(self) -> str:
        """This server's line for a known_hosts file."""
        kind, key = self.host_key.with_suffix(".pub").read_text().split()[:2]
        return f"[127.0.0.1]:{self.port} {kind} {key}\n"

    def add_user_key(self, name: str = "extra", passphrase: str = "") -> Path:
        """Another authorized key pair (encrypted when ``passphrase`` is given)."""
        key = keygen(self.root / name, passphrase)
        with self.authorized_keys.open("a") as out:
            out.write(key.with_suffix(".pub").read_text())
        return key
