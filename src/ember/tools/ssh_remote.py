"""What runs over an SSH connection: a command (output kept bounded, killed on timeout) and SFTP copies.

Each function takes an open asyncssh connection from ``ssh_client`` and runs on its event loop.
Opening the channel goes through ``opening``: a failure there means nothing ran on the remote
side, so ``SshClient.with_connection`` may reconnect and retry.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ember.textio import HeadTail
from ember.tools.base import ToolError
from ember.tools.ssh_client import load_asyncssh, opening


@dataclass
class RemoteResult:
    output: HeadTail  # stdout and stderr together: the first and last bytes, and the total
    exit_status: int | None
    exit_signal: str | None
    timed_out: bool


# The remote shell prints its pid first: sshd makes it the leader of a new session, so on a
# timeout or cancel ``kill -TERM -PID`` over a second channel stops everything the command
# started. (OpenSSH ignores "signal" channel requests for root logins, so those are not enough.)
_PGID_MARK = b"__ember_pgid__="


class _PgidReader:
    """Takes the marker line off the front of the output, then passes everything on."""

    def __init__(self, output: HeadTail) -> None:
        self.output, self.pending, self.done = output, bytearray(), False
        self.pgid: int | None = None

    def add(self, chunk: bytes) -> None:
        if self.done:
            self.output.add(chunk)
            return
        self.pending += chunk
        if b"\n" not in self.pending and len(self.pending) < 64:
            return
        line, _, rest = bytes(self.pending).partition(b"\n")
        self.done = True
        if line.startswith(_PGID_MARK) and line[len(_PGID_MARK):].isdigit():
            self.pgid = int(line[len(_PGID_MARK):])
            self.output.add(rest)
        else:  # a shell that is not POSIX-like: pass it all through
            self.output.add(bytes(self.pending))

    def finish(self) -> None:
        if not self.done and self.pending:
            self.done = True
            self.output.add(bytes(self.pending))


_stops: set[asyncio.Future[None]] = set()  # stops still running after a cancel, kept referenced
PID_WAIT = 5.0  # how long a stop waits for the remote shell's pid when it has not arrived yet


async def _stop(conn: Any, proc: Any, reader: _PgidReader) -> None:
    """Kill the remote command's process group (TERM, then KILL a second later), then close the channel."""
    with contextlib.suppress(Exception):
        proc.send_signal("KILL")  # honoured by OpenSSH for non-root logins; the group kill covers the rest
    deadline = asyncio.get_running_loop().time() + PID_WAIT
    with contextlib.suppress(Exception):
        while reader.pgid is None and not reader.done:  # stopped before the shell said who it is
            left = deadline - asyncio.get_running_loop().time()
            chunk = await asyncio.wait_for(proc.stdout.read(65536), max(left, 0.01))
            if not chunk:
                break
            reader.add(chunk)
    if reader.pgid is not None:
        with contextlib.suppress(Exception):
            await conn.run(
                f"kill -TERM -{reader.pgid} 2>/dev/null; (sleep 1; kill -KILL -{reader.pgid}) >/dev/null 2>&1 &",
                check=False,
            )
    proc.close()


async def run_command(conn: Any, command: str, timeout: float, keep: int) -> RemoteResult:
    """Run ``command``; stdout and stderr together; on timeout or cancel everything it started is killed."""
    asyncssh = load_asyncssh()
    wrapped = f"echo {_PGID_MARK.decode()}$$\n{command}"
    proc = await opening(conn.create_process(wrapped, encoding=None, stderr=asyncssh.STDOUT))
    proc.stdin.write_eof()  # a command waiting for input gets end-of-file at once
    output = HeadTail(keep)
    reader = _PgidReader(output)

    async def pump() -> None:
        while chunk := await proc.stdout.read(65536):
            reader.add(chunk)
        reader.finish()
        await proc.wait_closed()

    timed_out = False
    try:
        await asyncio.wait_for(pump(), timeout)
    except (TimeoutError, asyncio.CancelledError) as exc:
        stop = asyncio.ensure_future(_stop(conn, proc, reader))
        if isinstance(exc, asyncio.CancelledError):
            _stops.add(stop)  # a cancel returns at once; the stop finishes in the background
            stop.add_done_callback(_stops.discard)
            raise
        with contextlib.suppress(Exception):
            await asyncio.wait_for(stop, PID_WAIT + 3)
        reader.finish()
        timed_out = True
    signal = proc.exit_signal[0] if proc.exit_signal else None
    status = None if timed_out else proc.exit_status
    return RemoteResult(output, status, signal, timed_out)


async def upload(conn: Any, local: Path, remote: str, timeout: float) -> int:
    """Copy a local file or folder to ``remote``; returns the bytes sent."""
    sent: dict[str, int] = {}

    async def transfer() -> None:
        async with await opening(conn.start_sftp_client()) as sftp:
            await sftp.put(str(local), remote, recurse=local.is_dir(),
                           progress_handler=lambda src, dst, done, total: sent.__setitem__(src, done))

    await _transfer(transfer(), timeout)
    return sum(sent.values())


async def download(conn: Any, remote: str, local: Path, timeout: float) -> int:
    """Copy a remote file or folder to ``local``; returns the bytes received."""
    received: dict[str, int] = {}

    async def transfer() -> None:
        async with await opening(conn.start_sftp_client()) as sftp:
            await sftp.get(remote, str(local), recurse=await sftp.isdir(remote),
                           progress_handler=lambda src, dst, done, total: received.__setitem__(src, done))

    await _transfer(transfer(), timeout)
    return sum(received.values())


async def _transfer(job: Coroutine[Any, Any, None], timeout: float) -> None:
    asyncssh = load_asyncssh()
    try:
        await asyncio.wait_for(job, timeout)
    except TimeoutError:
        raise ToolError(f"The transfer did not finish within {timeout:g}s ([ssh] transfer_timeout).") from None
    except asyncssh.SFTPError as exc:
        raise ToolError(f"SFTP: {exc.reason}") from None
    except OSError as exc:
        raise ToolError(f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": ")) from None
