"""Crash safety and sharing a home between processes, with real second processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from ember.models.base import Message, Usage
from ember.store.sqlite.store import open_store

WRITER = """
import sys
from ember.store.sqlite.store import open_store
from ember.models.base import Message, Usage

store = open_store(sys.argv[1])
sid = store.create_session(source=sys.argv[2]).id
print(sid, flush=True)
count = int(sys.argv[3])
if count:
    sys.stdin.readline()  # wait for "go" so both processes write at the same time
i = 0
while count == 0 or i < count:
    mid = store.add_message(sid, Message("assistant", f"{sys.argv[2]} message {i}"), usage=Usage(1, 2))
    store.record_usage(sid, model=sys.argv[2], usage=Usage(1, 2))
    store.search_messages("message")
    print(mid, flush=True)  # only after add_message returned, i.e. committed
    i += 1
store.close()
print("done", flush=True)
"""


def _writer(path, source: str, count: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), source, str(count)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_kill_9_mid_turn_loses_nothing_already_added(db_path):
    open_store(db_path).close()
    child = _writer(db_path, "victim", 0)
    sid = child.stdout.readline().strip()
    acknowledged = [int(child.stdout.readline()) for _ in range(200)]
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=10)
    acknowledged += [int(line) for line in child.stdout.read().split()]  # printed before it died
    assert child.returncode == -signal.SIGKILL

    with open_store(db_path) as store:
        stored = store.get_messages(sid)
        assert set(acknowledged) <= {m.id for m in stored}
        assert [m.message.content for m in stored] == [f"victim message {i}" for i in range(len(stored))]
        assert len(store.search_messages("victim")) == min(20, len(stored))
        assert store.integrity_problems() == []


def test_two_processes_write_one_home_at_once(db_path):
    # The child opens the missing file while this process opens it too: migrations must not collide.
    child = _writer(db_path, "gateway", 300)
    store = open_store(db_path)
    try:
        child_sid = child.stdout.readline().strip()
        assert child_sid, child.stderr.read()
        sid = store.create_session(source="cli").id
        child.stdin.write("go\n")
        child.stdin.flush()
        assert int(child.stdout.readline()) > 0  # the child is writing; now write alongside it
        for i in range(150):
            store.add_message(sid, Message("user", f"cli message {i}"))
            store.record_usage(sid, model="cli", usage=Usage(1, 2))
            store.get_messages(child_sid)
            store.list_sessions()
        out, err = child.communicate(timeout=60)
        assert child.returncode == 0, err
        assert out.split()[-1] == "done"

        mine = [m.id for m in store.get_messages(sid)]
        theirs = [m.id for m in store.get_messages(child_sid)]
        assert len(mine) == 150
        assert min(theirs) < max(mine) and min(mine) < max(theirs), "the writes did not overlap"
        assert [m.message.content for m in store.get_messages(child_sid)] == [
            f"gateway message {i}" for i in range(300)
        ]
        totals = store.usage_totals()
        assert totals.calls == 450 and set(totals.by_model) == {"cli", "gateway"}
        assert len(store.search_messages("gateway", limit=1000)) == 300
        assert store.integrity_problems() == []
        assert len(store.schema_version()) == len(set(store.schema_version()))
    finally:
        if child.poll() is None:
            child.kill()
        store.close()


def test_writes_from_one_process_are_visible_to_another_immediately(db_path):
    store = open_store(db_path)
    try:
        sid = store.create_session().id
        mid = store.add_message(sid, Message("user", "committed"))
        code = (
            "import sys; from ember.store.sqlite.store import open_store; "
            "s = open_store(sys.argv[1]); print(s.get_messages(sys.argv[2])[-1].id)"
        )
        started = time.monotonic()
        out = subprocess.run([sys.executable, "-c", code, str(db_path), sid], capture_output=True, text=True,
                             timeout=30)
        assert out.returncode == 0, out.stderr
        assert int(out.stdout) == mid
        assert time.monotonic() - started < 10
    finally:
        store.close()
