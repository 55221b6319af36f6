"""Moving a whole store to another backend (``ember db copy``): which tables, in which order, and
the copy itself, through the ``TableTransfer`` port of both stores.

Every backend keeps the same tables with the same columns (the SQLite schema's), so rows travel as
they are, ids included: a lesson still points at its episode, a vector at its message. What is
derived is not copied but rebuilt by the destination (the full-text indexes, the search index's
text and periods, its marks), and neither are the embedders' claims of the moment nor the gateway
workers' heartbeats (workers of the source, which is stopped while it is copied), nor the files
kept for messages whose turn has not run yet (``gateway_files``: bytes of the moment, dropped once
the turn has them; such a message runs in the destination and is told its files are missing). A
row whose key the destination has already is left as it is there, so copying again adds nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ember.store.ports import Store


@dataclass(frozen=True)
class Table:
    """A table as it is copied: its columns, its key (rows are read in key order, from after the
    last key read), and the column whose values the database hands out, if any."""

    name: str
    columns: tuple[str, ...]
    key: tuple[str, ...] = ("id",)
    generated: str | None = "id"


def _t(name: str, columns: str, key: str = "id", generated: str | None = "id") -> Table:
    return Table(name, tuple(columns.split()), tuple(key.split()), generated)


TABLES: tuple[Table, ...] = (
    _t("sessions", "id title source model created_at updated_at person", generated=None),
    _t("messages", "id session_id role content tool_calls tool_call_id name reasoning is_error images model"
       " input_tokens output_tokens created_at external_id speaker reasoning_blocks"),
    _t("summaries", "id session_id summary upto_message_id created_at"),
    _t("usage", "id session_id model kind input_tokens output_tokens cost created_at"),
    _t("allowed_commands", "pattern created_at", key="pattern", generated=None),
    _t("meta", "key value", key="key", generated=None),
    _t("episodes", "id session_id task answer steps errors outcome tool_calls model_calls input_tokens"
       " output_tokens lessons_used skills_used created_at updated_at"),
    _t("lessons", "id rule keywords kind episode_id uses successes recent confirmations retired_at retired_reason"
       " created_at updated_at person"),
    _t("skill_stats", "name origin uses successes recent last_used archived_at created_at updated_at", key="name",
       generated=None),
    _t("learning_events", "id kind subject detail episode_id created_at"),
    _t("search_vectors", "message_id part model vector", key="message_id part", generated=None),
    _t("search_terms", "term model vector", key="term", generated=None),
    _t("gateway_inbox", "id event_id platform chat thread user_id user_name text payload status session_id attempts"
       " error received_at updated_at"),
    _t("gateway_outbox", "id platform chat thread text buttons request_id file kind inbox_id part status attempts"
       " next_at last_error ack created_at delivered_at"),
    _t("gateway_chats", "platform chat thread session_id person updated_at", key="platform chat thread",
       generated=None),
    _t("gateway_senders", "platform user_id person how created_at", key="platform user_id", generated=None),
    _t("gateway_pairing", "code expires_at used_by", key="code", generated=None),
    _t("cron_jobs", "id name schedule kind expr at tz task deliver enabled missed retries timeout next_at last_at"
       " created_by created_at", generated=None),
    _t("cron_runs", "id job_id due_at attempt status owner started_at finished_at session_id input_tokens"
       " output_tokens cost error outbox_ids"),
)
"""What ``ember db copy`` moves, parents before the rows that point at them."""

DERIVED_META = ("search.indexed_upto", "search.embedded_upto")
"""``meta`` keys about the search index, which the destination rebuilds rather than copies."""

BATCH = 2000


@dataclass
class Copied:
    """One table's copy: rows in the source, rows added to the destination, rows it had already."""

    table: str
    source: int = 0
    added: int = 0
    present: int = 0

    def as_json(self) -> dict[str, Any]:
        return {"source": self.source, "added": self.added, "already_there": self.present}


Progress = Callable[[str, int, int], None]
"""``progress(table, rows done, rows in the table)``."""


def copy_store(source: Store, destination: Store, *, progress: Progress | None = None,
               batch: int = BATCH) -> list[Copied]:
    """Copy every table of ``TABLES`` from ``source`` to ``destination``; what each table gave."""
    report = []
    for table in TABLES:
        total = source.tables.count(table)
        done = Copied(table.name, source=total)
        after: tuple[Any, ...] | None = None
        seen = 0
        while True:
            rows = source.tables.read(table, after, batch)
            if not rows:
                break
            seen += len(rows)
            after = tuple(rows[-1][table.columns.index(k)] for k in table.key)
            if table.name == "meta":
                skipped = [r for r in rows if r[0] in DERIVED_META]
                rows = [r for r in rows if r[0] not in DERIVED_META]
                done.source -= len(skipped)
            added = destination.tables.write(table, rows) if rows else 0
            done.added += added
            done.present += len(rows) - added
            if progress is not None:
                progress(table.name, seen, total)
        report.append(done)
    destination.tables.finish()
    return report
