"""The scan's verdict on memory files, kept between runs: ``EMBER_HOME/.scan-cache.json``.

Every prompt lists the skills and shows USER.md and the relevant lessons, and each is scanned before that
(``ember.security.scan``). Scanning is the slow part of a one-shot ``ember run``, and files rarely
change, so the verdict is kept by path with the file's mtime and size and the scanner's own version
(the mtime and size of its modules): a file edited by hand, or a newer scanner, is scanned again.
On a cache hit nothing of the scanner is imported. A home that cannot be written only loses the
cache, never the scan.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

FILENAME = ".scan-cache.json"
_SCANNER = ("scan.py", "normalize.py", "directives.py")
_loaded: dict[Path, dict[str, Any]] = {}
_dirty: set[Path] = set()
_version: str | None = None
_lock = threading.RLock()  # a gateway builds prompts for several people at once


def scanner_version() -> str:
    """Changes whenever the scanner's code does (another release, a local edit)."""
    global _version
    if _version is None:
        folder = Path(__file__).resolve().parent.parent / "security"
        try:
            stats = [(folder / name).stat() for name in _SCANNER]
            _version = "-".join(f"{s.st_mtime_ns}:{s.st_size}" for s in stats)
        except OSError:
            _version = ""  # no source files to stat (a frozen build): scan every time
    return _version


def _table(home: Path) -> dict[str, Any]:
    if home not in _loaded:
        try:
            data = json.loads((home / FILENAME).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = {}
        if not (isinstance(data, dict) and data.get("version") == scanner_version()
                and isinstance(data.get("files"), dict) and isinstance(data.get("texts", {}), dict)):
            data = {"version": scanner_version(), "files": {}}  # another scanner's, or damaged: start over
        _loaded[home] = data
    return _loaded[home]


def verdict(home: Path, path: Path, compute: Callable[[], Any]) -> Any:
    """``compute()`` for ``path`` as it is now, from the cache when the file and the scanner are unchanged."""
    version = scanner_version()
    try:
        stat = path.stat()
    except OSError:
        return compute()
    key = [stat.st_mtime_ns, stat.st_size]
    with _lock:
        entry = _table(home)["files"].get(str(path))
    if version and entry and entry[:2] == key:
        return entry[2]
    result = compute()
    if version:
        with _lock:
            _table(home)["files"][str(path)] = [*key, result]
            _dirty.add(home)
    return result


def text_verdict(home: Path, key: str, text: str, compute: Callable[[], Any]) -> Any:
    """``compute()`` for a text kept elsewhere than in a file (a lesson in the database), by ``key`` and
    the text's hash; call ``flush`` afterwards."""
    import hashlib

    version = scanner_version()
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]
    with _lock:
        entry = _table(home).setdefault("texts", {}).get(key)
    if version and entry and entry[0] == digest:
        return entry[1]
    result = compute()
    if version:
        with _lock:
            _table(home)["texts"][key] = [digest, result]
            _dirty.add(home)
    return result


def flush(home: Path) -> None:
    """Write the verdicts found since the last flush (once per listing, not once per file)."""
    with _lock:
        if home in _dirty:
            _dirty.discard(home)
            _save(home, _table(home))


def _save(home: Path, table: dict[str, Any]) -> None:
    target = home / FILENAME
    tmp = home / f".{FILENAME}.{os.getpid()}.tmp"
    try:
        table["files"] = {p: v for p, v in table["files"].items() if Path(p).exists()}
        tmp.write_text(json.dumps(table, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, target)
    except OSError:
        tmp.unlink(missing_ok=True)
