"""What the memory search's ports speak: indexed messages, candidates, and the archive's rows.

Ranking, time references and embeddings are ``ember.memory``'s; these records carry what the
store holds for them, never a database row.
"""

from __future__ import annotations

from dataclasses import dataclass, field

Scope = tuple[str | None, str | None]
"""Which messages a search looks at: (session, person); None is "any". A person's sessions are
theirs: one person's memory is never another's."""


@dataclass
class IndexedMessage:
    """A searchable message as the text index reads it."""

    id: int
    session_id: str
    content: str
    speaker: str | None
    created_at: float


@dataclass
class IndexEntry:
    """What the text index holds for one message: its text and its neighbours' (names taken out)."""

    message_id: int
    body: str
    context: str


@dataclass
class TimeMention:
    """A period a message talks about (``start`` <= t < ``end``, POSIX seconds)."""

    message_id: int
    start: float
    end: float


@dataclass
class Candidate:
    """A message a search may return, with what ranking needs to know about it."""

    id: int
    session_id: str
    role: str
    speaker: str | None
    created_at: float
    external_id: str | None
    content: str
    after_question: bool  # the searchable message before it (same session) asked something


StoredVector = tuple[int, int, int, bytes]
"""One stored embedding: (seq, message id, part, int8 bytes). Part 0 is the whole message, 1.. its
sentences; ``seq`` increases with every vector written, so a reader asks for what came after.
Plain tuples: a search loads every vector of a big history at start."""

StoredWord = tuple[int, str, bytes]
"""An indexed word's vector, for query expansion: (seq, word, int8 bytes)."""


# --- the archive: what a person can import, see, export and forget ----------------------------------


@dataclass
class ImportedRow:
    """A message brought in by ``ember memory import``, with the id and speaker it had in its source."""

    session_id: str
    role: str
    content: str
    external_id: str | None
    speaker: str | None
    created_at: float


@dataclass
class ArchivedMessage:
    """A message as ``ember memory show|forget`` names it, with its session's title."""

    id: int
    session_id: str
    session_title: str | None
    external_id: str | None
    role: str
    speaker: str | None
    content: str
    created_at: float


@dataclass
class ExportedMessage:
    """A message as ``ember memory export`` writes it."""

    id: int
    external_id: str | None
    session_id: str
    title: str | None
    role: str
    speaker: str | None
    content: str
    created_at: float


@dataclass
class MemoryCounts:
    """What ``ember memory show`` counts of the messages."""

    sessions: int = 0
    messages: int = 0
    imported_messages: int = 0
    speakers: list[str] = field(default_factory=list)  # the most frequent first
