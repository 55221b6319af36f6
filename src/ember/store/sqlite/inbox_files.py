"""The files that came with inbox items, in SQLite (table of migration ``gateway_files``): the
``InboxFileStore`` port. Bytes in a BLOB, kept only until the item's turn has them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ember.store.gateway_records import QUEUED, RUNNING, InboxFile

if TYPE_CHECKING:
    from ember.store.sqlite.database import Database


class SQLiteInboxFiles:
    def __init__(self, db: Database) -> None:
        self._db = db

    def put_file(self, file: InboxFile, now: float) -> None:
        with self._db._write() as db:
            db.execute("INSERT OR REPLACE INTO gateway_files (inbox_id, number, name, data, problem, created_at)"
                       " VALUES (?, ?, ?, ?, ?, ?)",
                       (file.inbox_id, file.number, file.name, file.data, file.problem, now))

    def settled(self, inbox_id: int) -> int:
        return int(self._db._read("SELECT count(*) FROM gateway_files WHERE inbox_id = ?", (inbox_id,),
                                  plain=True)[0][0])

    def files(self, inbox_id: int) -> list[InboxFile]:
        rows = self._db._read("SELECT inbox_id, number, name, data, problem FROM gateway_files WHERE inbox_id = ?"
                              " ORDER BY number", (inbox_id,), plain=True)
        return [InboxFile(r[0], r[1], r[2], bytes(r[3]) if r[3] is not None else None, r[4]) for r in rows]

    def drop_files(self, inbox_id: int) -> None:
        with self._db._write() as db:
            db.execute("DELETE FROM gateway_files WHERE inbox_id = ?", (inbox_id,))

    def prune_files(self, before: float) -> int:
        if not self._db._read("SELECT 1 FROM gateway_files LIMIT 1"):
            return 0  # nothing kept: no write lock taken
        with self._db._write() as db:
            return db.execute("DELETE FROM gateway_files WHERE created_at < ? OR inbox_id NOT IN"
                              " (SELECT id FROM gateway_inbox WHERE status IN (?, ?))",
                              (before, QUEUED, RUNNING)).rowcount
