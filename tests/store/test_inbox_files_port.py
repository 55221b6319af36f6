"""The files kept for inbox items (``store.inbox_files``) through the ledger, on every backend."""

from __future__ import annotations

import time

from ember.gateway.channel import Inbound
from ember.gateway.ledger import DONE, InboxFile, Ledger

KEY = "sk_live_8dKLzdocJ2isAjIhKtJ0RlgL"
PHOTO = bytes(range(256)) * 40  # every byte value: binary is kept as it is, never masked


def _item(ledger: Ledger, event: str) -> int:
    inbox_id = ledger.record(Inbound(platform="telegram", chat="c1", user="u1", event_id=event, text="look"),
                             payload={"files_expected": ["a.jpg", "b.pdf"]})
    assert inbox_id is not None
    return inbox_id


def test_files_are_kept_by_number_settled_with_or_without_bytes_and_dropped(store):
    ledger = Ledger(store)
    first, second = _item(ledger, "e1"), _item(ledger, "e2")
    assert ledger.files_settled(first) == 0 and ledger.files(first) == []
    ledger.keep_file(first, 1, f"notes {KEY}.pdf", None, f"could not be fetched: 401 with token {KEY}")
    ledger.keep_file(first, 0, "a.jpg", PHOTO + KEY.encode())
    ledger.keep_file(second, 0, "c.jpg", b"")
    assert ledger.files_settled(first) == 2 and ledger.files_settled(second) == 1
    photo, notes = ledger.files(first)
    assert (photo.number, photo.name, photo.data, photo.problem) == (0, "a.jpg", PHOTO + KEY.encode(), None)
    assert (notes.number, notes.name, notes.data) == (1, "notes [REDACTED].pdf", None)
    assert notes.problem == "could not be fetched: 401 with token [REDACTED]"
    ledger.keep_file(first, 1, "b.pdf", b"%PDF")  # kept again (a retry): written over
    assert [(f.name, f.data) for f in ledger.files(first)][1] == ("b.pdf", b"%PDF")
    assert ledger.files(second)[0].data == b""  # an empty file is a file, not a missing one
    ledger.drop_files(first)
    assert ledger.files(first) == [] and ledger.files_settled(second) == 1


def test_pruning_drops_the_files_of_items_over_and_old_ones(store):
    ledger = Ledger(store)
    done, waiting, old = _item(ledger, "e1"), _item(ledger, "e2"), _item(ledger, "e3")
    for inbox_id in (done, waiting):
        ledger.keep_file(inbox_id, 0, "a.jpg", b"jpeg")
    store.inbox_files.put_file(InboxFile(old, 0, "a.jpg", b"jpeg"), time.time() - 7200)  # kept two hours ago
    ledger.set_status(done, DONE)
    assert ledger.prune_files(3600) == 2
    assert [ledger.files_settled(i) for i in (done, waiting, old)] == [0, 1, 0]
    assert ledger.prune_files(3600) == 0
