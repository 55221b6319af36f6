"""Every table's rows as they are, for ``ember db copy``: the ``TableTransfer`` port in SQLite.

Rows go in with ``INSERT OR IGNORE``: a row whose key is there already stays as it is. The
triggers keep ``messages_fts`` in step with copied messages; AUTOINCREMENT follows the largest id
written by itself."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ember.store.sqlite.database import Database
    from ember.store.transfer import Table


def _names(names: tuple[str, ...]) -> str:
    return ", ".join(f'"{n}"' for n in names)


class SQLiteTables:
    def __init__(self, db: Database) -> None:
        self._db = db

    def count(self, table: Table) -> int:
        return int(self._db._read(f'SELECT COUNT(*) FROM "{table.name}"')[0][0])

    def read(self, table: Table, after: tuple[Any, ...] | None, limit: int) -> list[tuple[Any, ...]]:
        where = ""
        params: tuple[Any, ...] = ()
        if after is not None:
            where = f"WHERE ({_names(table.key)}) > ({', '.join('?' * len(after))})"
            params = tuple(after)
        return [tuple(r) for r in self._db._read(
            f'SELECT {_names(table.columns)} FROM "{table.name}" {where} ORDER BY {_names(table.key)} LIMIT ?',
            (*params, limit), plain=True)]

    def write(self, table: Table, rows: list[tuple[Any, ...]]) -> int:
        if not rows:
            return 0
        with self._db._write() as db:
            cursor = db.executemany(
                f"INSERT OR IGNORE INTO {table.name} ({_names(table.columns)})"
                f" VALUES ({', '.join('?' * len(table.columns))})", rows)
            return max(cursor.rowcount, 0)

    def finish(self) -> None:
        return None
