"""Who holds a claim in the store, and whether that process is gone.

Claims (the gateway's inbox and outbox items, the embedding index's batches) carry their
owner's name, ``host:pid:token``, so that another process can tell a claim whose process died on
this host and take it over at once, instead of waiting for its lease to lapse. The token tells
apart two processes that had the same pid. Standard library only: every layer may use it.
"""

from __future__ import annotations

import os
import secrets
import socket
from pathlib import Path

HOST = socket.gethostname()


def new_owner() -> str:
    """This process's owner name: its host, its process id, and a token of its own."""
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
    """Whether ``owner`` was a process of this host that no longer runs (another host's are only
    known gone when their claims lapse)."""
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    return host == HOST and pid.isdigit() and int(pid) != os.getpid() and not process_alive(int(pid))
