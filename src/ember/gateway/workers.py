"""Several gateway workers on one store: who a worker is, and whether another one is still alive.

Each ``ember gateway run`` is a worker with an owner name, ``host:pid:token``, under which it
claims inbox and outbox items (``GatewayStore.claim_inbound``, ``claim_due``) for a lease it
renews while it runs. A worker that dies leaves claims that lapse at the end of their lease, and
another worker takes the items over; one on the same host whose process is gone is noticed
sooner (``owner_gone``), and its claims are given back at once.
"""

from __future__ import annotations

import os
import secrets
import socket
from pathlib import Path

HOST = socket.gethostname()


def new_owner() -> str:
    """This worker's owner name: its host, its process id, and a token of its own."""
    return f"{HOST}:{os.getpid()}:{secrets.token_hex(4)}"


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    try:  # a killed child its parent has not reaped yet is a zombie: gone for our purpose
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def owner_gone(owner: str) -> bool:
    """Whether ``owner`` was a worker of this host whose process no longer runs (another host's
    workers are only known gone when their claims lapse)."""
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    return host == HOST and pid.isdigit() and int(pid) != os.getpid() and not process_alive(int(pid))
