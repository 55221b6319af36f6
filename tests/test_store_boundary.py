"""Storage stays behind the ports: SQL, sqlite3 and psycopg live in the backends only.

Every module of ember outside ``store/sqlite/`` and ``store/postgres/`` speaks to storage through
the ports of ``ember.store.ports``. This test reads each module with ``ast`` and fails, naming the
module and line, when one imports ``sqlite3`` or ``psycopg`` (also under ``if TYPE_CHECKING:``),
holds a SQL statement in a string (SELECT ... FROM, INSERT, UPDATE ... SET, DELETE FROM, CREATE,
ALTER, DROP, PRAGMA), or reaches into a store's connection (``store._read(...)``,
``store._write()``, ``store._conn()``). A new backend is one more package beside them, named here.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src" / "ember"
BACKENDS = [SRC / "store" / "sqlite", SRC / "store" / "postgres"]
DRIVERS = ("sqlite3", "psycopg")

# Statements as Ember writes them: keywords in capitals (so English prose and the JavaScript of the
# browser tools, which name the SELECT element, are not SQL).
SQL = re.compile(
    r"""\bSELECT\s+(?:DISTINCT\s+)?[\w*(][\s\S]*?\bFROM\b
      | \bINSERT\s+(?:OR\s+[A-Z]+\s+)?INTO\s+\w
      | \bREPLACE\s+INTO\s+\w
      | \bUPDATE\s+\w+\s+SET\b
      | \bDELETE\s+FROM\s+\w
      | \bCREATE\s+(?:UNIQUE\s+|VIRTUAL\s+|TEMP\s+)?(?:TABLE|INDEX|TRIGGER|VIEW)\b
      | \bALTER\s+TABLE\s+\w
      | \bDROP\s+(?:TABLE|INDEX|TRIGGER|VIEW)\b
      | \bPRAGMA\s+[a-z_]+
      | \bBEGIN\s+(?:IMMEDIATE|EXCLUSIVE|DEFERRED)\b""",
    re.VERBOSE,
)
RAW_ACCESS = {"_read", "_write", "_conn"}  # the SQLite store's own connection, transactions and queries


def modules() -> Iterator[Path]:
    for path in sorted(SRC.rglob("*.py")):
        if not any(backend in path.parents for backend in BACKENDS):
            yield path


def _strings(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """Every string literal with its line; an f-string's placeholders read as ``?``."""
    parts = {id(part) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr) for part in node.values}
    for node in ast.walk(tree):
        if id(node) in parts:
            continue
        if isinstance(node, ast.JoinedStr):
            text = "".join(part.value if isinstance(part, ast.Constant) and isinstance(part.value, str) else "?"
                           for part in node.values)
            yield node.lineno, text
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.lineno, node.value


def problems(source: str, name: str = "<source>") -> list[str]:
    """What in ``source`` holds SQL or touches a database directly, one line each."""
    tree = ast.parse(source, name)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [f"{name}:{node.lineno}: imports {alias.name}" for alias in node.names
                      if alias.name.split(".")[0] in DRIVERS]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in DRIVERS:
            found.append(f"{name}:{node.lineno}: imports from {node.module}")
        elif isinstance(node, ast.Attribute) and node.attr in RAW_ACCESS and not (
                isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")):
            found.append(f"{name}:{node.lineno}: reaches into a store: .{node.attr}")
    for line, text in _strings(tree):
        match = SQL.search(text)
        if match:
            found.append(f"{name}:{line}: SQL {' '.join(match.group(0).split())[:60]!r}")
    return found


def test_no_sql_and_no_sqlite3_outside_the_backends():
    found = [p for path in modules() for p in problems(path.read_text(encoding="utf-8"), str(path.relative_to(SRC)))]
    assert not found, (
        "storage outside the backends: give the domain a port method (ember/store/ports.py) and put the "
        "SQL in the backend:\n" + "\n".join(found))


def test_the_backends_are_where_the_sql_is():
    for folder, driver in zip(BACKENDS, DRIVERS, strict=True):
        backend = [p for path in sorted(folder.rglob("*.py")) for p in problems(path.read_text(encoding="utf-8"))]
        assert any("SQL" in p for p in backend) and any(driver in p for p in backend), folder


def test_what_counts_as_sql():
    sql = [
        'rows = db.execute("SELECT id FROM messages WHERE id = ?", (1,))',
        'q = f"SELECT * FROM {table} ORDER BY id"',
        'q = ("SELECT m.id, s.title AS t"\n     " FROM messages m JOIN sessions s ON s.id = m.session_id")',
        'q = "INSERT OR IGNORE INTO skill_stats (name) VALUES (?)"',
        'q = "UPDATE lessons SET uses = uses + 1"',
        'q = "DELETE FROM search_fts WHERE rowid = ?"',
        'q = """CREATE VIRTUAL TABLE t USING fts5(body)"""',
        'q = "ALTER TABLE messages ADD COLUMN speaker TEXT"',
        'q = "PRAGMA data_version"',
        "import sqlite3",
        "from sqlite3 import Row",
        "import psycopg",
        "from psycopg.rows import dict_row",
        "rows = store._read('anything')",
        "with self.store._write() as db: pass",
    ]
    for source in sql:
        assert problems(source), source
    fine = [
        "js = \"if (['BUTTON', 'SELECT', 'TEXTAREA'].includes(tag)) return true;\"",
        'text = "Select the files from the list, then update the settings and delete the rest."',
        "self._write(header)",  # an object's own private method
        'doc = "the store keeps sessions; select a session from `ember sessions`"',
    ]
    for source in fine:
        assert not problems(source), source
