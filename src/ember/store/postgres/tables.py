"""Every table's rows as they are, for ``ember db copy``: the ``TableTransfer`` port on PostgreSQL.

Rows go in with ``ON CONFLICT DO NOTHING``: a row whose key is there already stays as it is. The
generated full-text columns follow the copied text; ``finish`` moves every identity sequence past
the largest id copied, so the next id handed out is new."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ember.store.postgres.database import Database
    from ember.store.transfer import Table

_LOCKS = {"messages": ("messages",), "search_vectors": ("vectors",), "search_terms": ("vectors",)}


def _names(names: tuple[str, ...]) -> str:
    return ", ".join(f'"{n}"' for n in names)


class PostgresTables:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._written: set[str] = set()

    def count(self, table: Table) -> int:
        return int(self._db._value(f'SELECT count(*) FROM "{table.name}"'))

    def read(self, table: Table, after: tuple[Any, ...] | None, limit: int) -> list[tuple[Any, ...]]:
        where = ""
        params: tuple[Any, ...] = ()
        if after is not None:
            where = f"WHERE ({_names(table.key)}) > ({', '.join(['%s'] * len(after))})"
            params = tuple(after)
        rows = self._db._read(
            f'SELECT {_names(table.columns)} FROM "{table.name}" {where} ORDER BY {_names(table.key)} LIMIT %s',
            (*params, limit), plain=True)
        return [tuple(bytes(v) if isinstance(v, memoryview) else v for v in r) for r in rows]

    def write(self, table: Table, rows: list[tuple[Any, ...]]) -> int:
        if not rows:
            return 0
        with self._db._write(*_LOCKS.get(table.name, ())) as db:
            with db.cursor() as cursor:
                cursor.executemany(
                    f"INSERT INTO {table.name} ({_names(table.columns)})"
                    f" VALUES ({', '.join(['%s'] * len(table.columns))}) ON CONFLICT DO NOTHING", rows)
                added = max(cursor.rowcount, 0)
        if table.generated:
            self._written.add(f"{table.name}.{table.generated}")
        return added

    def finish(self) -> None:
        with self._db._write() as db:
            for name in sorted(self._written):
                table, column = name.split(".")
                db.execute(
                    f'SELECT setval(pg_get_serial_sequence(%s, %s), COALESCE(max("{column}"), 0) + 1, false)'
                    f' FROM "{table}"', (table, column))
        self._written.clear()
