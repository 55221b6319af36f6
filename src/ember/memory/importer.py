"""``ember memory import``: conversations from a JSONL file into the store.

One JSON object per line::

    {"id": "D1:3", "session": "S1", "role": "user", "speaker": "Caroline",
     "content": "...", "timestamp": "2023-05-08T13:56:00"}

``id`` is kept as the message's external id (search returns it); ``session`` names the session
the message belongs to (created with that title, ``source="import"``, and reused when the same
file is imported again); ``timestamp`` (ISO 8601, local time unless it carries an offset)
becomes the message's time. Only ``content`` is required. A line that cannot be used is
reported with its number and skipped, never silently lost; a message whose id is already in
its session is skipped too, so importing a file twice adds nothing.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ember.store.search_records import ImportedRow

if TYPE_CHECKING:
    from ember.store.ports import Store

ROLES = ("user", "assistant", "system", "tool")  # "tool": what ``memory export`` writes for tool results
# Times a message may carry: 1970-01-01 up to the end of year 9999 (what ``datetime`` can show);
# anything outside is a mistake (most often milliseconds) that would break every reader.
MIN_TIME = 0.0
MAX_TIME = 253_402_214_400.0  # 9999-12-30T00:00:00Z, so local time is still in range everywhere
SOURCE = "import"
BATCH = 1000


@dataclass
class ImportedMessage:
    line: int
    session: str
    role: str
    content: str
    external_id: str | None
    speaker: str | None
    created_at: float


@dataclass
class ImportReport:
    messages: int = 0
    sessions_created: int = 0
    duplicates: int = 0
    problems: list[tuple[int, str]] = field(default_factory=list)  # (line number, what is wrong)


def parse_timestamp(value: Any) -> float:
    """ISO 8601 text (naive = local time) or a POSIX number -> POSIX seconds.

    Raises ValueError for anything else, and for times outside years 1970..9999.
    """
    if isinstance(value, bool):
        raise ValueError("timestamp must be ISO 8601 text or a number")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and value.strip():
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            seconds = datetime.fromisoformat(text).timestamp()
        except OverflowError as e:
            raise ValueError(f"timestamp out of range: {value!r}") from e
    else:
        raise ValueError("timestamp must be ISO 8601 text or a number")
    if not math.isfinite(seconds) or not MIN_TIME <= seconds <= MAX_TIME:
        hint = "; looks like milliseconds? use seconds or ISO 8601" if seconds > MAX_TIME else ""
        raise ValueError(f"timestamp out of range (years 1970 to 9999): {value!r}{hint}")
    return seconds


def parse_line(number: int, raw: str, default_time: float) -> ImportedMessage:
    """One JSONL line -> a message; raises ValueError saying what is wrong with it."""
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as e:
        raise ValueError(f"not valid JSON ({e.msg})") from e
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    content = data.get("content")
    if not isinstance(content, str):
        raise ValueError('"content" is missing or not text')
    role = data.get("role", "user")
    if role not in ROLES:
        raise ValueError(f'"role" must be one of {", ".join(ROLES)}, not {role!r}')
    ext = data.get("id")
    if ext is not None and not isinstance(ext, str | int):
        raise ValueError('"id" must be text or a number')
    speaker = data.get("speaker")
    if speaker is not None and not isinstance(speaker, str):
        raise ValueError('"speaker" must be text')
    session = data.get("session", "imported")
    if not isinstance(session, str | int):
        raise ValueError('"session" must be text or a number')
    try:
        created = parse_timestamp(data["timestamp"]) if data.get("timestamp") is not None else default_time
    except ValueError as e:
        raise ValueError(f'bad "timestamp": {e}') from e
    return ImportedMessage(
        line=number, session=str(session), role=role, content=content,
        external_id=None if ext is None else str(ext), speaker=(speaker or None), created_at=created,
    )


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(
            f"not UTF-8 text (byte 0x{raw[e.start]:02x} at column {e.start + 1}); save the file as UTF-8"
        ) from e


def read_jsonl(lines: Iterable[str | bytes], report: ImportReport) -> list[ImportedMessage]:
    """Parse every line (text, or bytes decoded as UTF-8); bad ones go to ``report.problems`` with their number.

    A byte order mark at the start of the file is ignored.
    """
    now = time.time()
    out = []
    for number, raw in enumerate(lines, 1):
        if isinstance(raw, bytes):
            try:
                raw = _decode(raw)
            except ValueError as e:
                report.problems.append((number, str(e)))
                continue
        if number == 1:
            raw = raw.removeprefix("\ufeff")
        if not raw.strip():
            continue
        try:
            out.append(parse_line(number, raw, now))
        except ValueError as e:
            report.problems.append((number, str(e)))
    return out


def _session_ids(store: Store, names: list[str], report: ImportReport) -> dict[str, str]:
    ids: dict[str, str] = {}
    for name in names:
        found = store.archive.session_named(SOURCE, name)
        if found is not None:
            ids[name] = found
        else:
            ids[name] = store.create_session(source=SOURCE, title=name).id
            report.sessions_created += 1
    return ids


def import_messages(
    store: Store, messages: list[ImportedMessage], report: ImportReport,
    progress: Callable[[int, int], None] | None = None,
) -> None:
    """Insert the messages, in file order, into their named sessions (see the module docstring)."""
    sessions = _session_ids(store, list(dict.fromkeys(m.session for m in messages)), report)
    for start in range(0, len(messages), BATCH):
        batch = messages[start:start + BATCH]
        added, duplicates = store.archive.import_messages([
            # Redacted like every message Ember stores: an exported chat can hold a pasted key, and
            # what is imported is searched and shown to the model.
            ImportedRow(sessions[m.session], m.role, store.redact(m.content), m.external_id, m.speaker, m.created_at)
            for m in batch
        ])
        report.messages += added
        report.duplicates += duplicates
        if progress:
            progress(min(start + BATCH, len(messages)), len(messages))
