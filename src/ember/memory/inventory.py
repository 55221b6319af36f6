"""What a person can see and remove of Ember's memory: counts, one item, forget, export.

Behind ``ember memory show|forget|export``. Forgetting a message removes it, its search
entries (FTS row, vectors, time mentions) and its text from its neighbours' indexed context;
words that no longer occur in any indexed message lose their vectors too. Other registered
sources (lessons, episodes...) are counted and forgotten through their own ``Source`` hooks.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from ember.memory.importer import MAX_TIME, MIN_TIME
from ember.memory.search import index, textproc
from ember.memory.search.federated import sources

if TYPE_CHECKING:
    from ember.store.ports import Store


def counts(store: Store) -> dict[str, Any]:
    """Sessions, messages and the state of the search index, plus each registered source's count."""
    from ember.memory.search.embeddings import embeddings_available

    stored = store.archive.counts()
    data: dict[str, Any] = {
        "sessions": stored.sessions,
        "messages": stored.messages,
        "imported_messages": stored.imported_messages,
        "indexed_messages": store.index.indexed_count(),
        "embedded_messages": store.vectors.embedded_count(),
        "word_vectors": store.vectors.word_count(),
        "vector_model": store.vectors.model(),
        "embeddings_installed": embeddings_available(),
        "speakers": stored.speakers,
    }
    for name, source in sorted(sources().items()):
        if source.count is not None:
            try:
                data[name] = source.count(store)
            except Exception as e:  # show what can be shown
                data[name] = f"unavailable ({e})"
    return data


class AmbiguousMessage(LookupError):
    """Several messages answer to one reference; ``matches`` lists them (rows with the session title)."""

    def __init__(self, ref: str, matches: list[dict[str, Any]]) -> None:
        self.ref = ref
        self.matches = matches
        lines = []
        for m in matches:
            snippet = " ".join(str(m["content"]).split())
            snippet = snippet[:60] + ("…" if len(snippet) > 60 else "")
            lines.append(f"  {m['session_title'] or m['session_id']}/{m['external_id']}  (or #{m['id']})  {snippet}")
        super().__init__(
            f"{len(matches)} messages have the id {ref!r}; name one as SESSION/ID (the session's name or id) "
            f"or #N:\n" + "\n".join(lines)
        )


def find_message(store: Store, ref: str) -> dict[str, Any] | None:
    """The message ``ref`` names, or None; raises ``AmbiguousMessage`` when it names several.

    ``ref`` is an external id (as search returns it), ``SESSION/ID`` (the session's name or id,
    then the external id) when several sessions share an id, ``#N`` for the message's row id,
    or a bare number for the row id when no external id is that number. The message is a dict:
    id, session_id, session_title, external_id, role, speaker, content, created_at.
    """
    ref = ref.strip()
    if ref.startswith("#") and ref[1:].isdigit():
        rows = store.archive.find(message_id=int(ref[1:]))
        return asdict(rows[0]) if rows else None
    rows = store.archive.find(external_id=ref)
    if not rows:
        found: dict[int, Any] = {}
        for at in (i for i, ch in enumerate(ref) if ch == "/"):
            session, ext = ref[:at], ref[at + 1:]
            if session and ext:
                for r in store.archive.find(external_id=ext, session=session):
                    found[r.id] = r
        rows = list(found.values())
    if not rows and ref.isdigit():
        rows = store.archive.find(message_id=int(ref))
    if len(rows) > 1:
        raise AmbiguousMessage(ref, [asdict(r) for r in rows])
    return asdict(rows[0]) if rows else None


def _drop_orphan_words(store: Store, text: str) -> None:
    for word in textproc.vocabulary_words(text):
        if not store.index.contains_word(word):
            store.vectors.forget_word(word)


def forget(store: Store, ref: str) -> str | None:
    """Delete the item ``ref`` names; returns what was deleted, or None when nothing matched.

    ``ref`` is anything ``find_message`` takes, or ``<source>:<id>`` for a registered source.
    Raises ``AmbiguousMessage`` (deleting nothing) when ``ref`` names several messages.
    """
    source_name, _, key = ref.partition(":")
    source = sources().get(source_name)
    if source is not None and key and source.forget is not None:
        return f"{source_name} {key}" if source.forget(store, key) else None
    row = find_message(store, ref)
    if row is None:
        return None
    # with its search entries, vectors and times; the session's times follow its remaining messages
    store.archive.delete_message(row["id"], row["session_id"], valid_times=(MIN_TIME, MAX_TIME))
    index.reindex_around(store, row["session_id"], row["id"])
    _drop_orphan_words(store, row["content"])
    label = row["external_id"] or row["id"]
    return f"message {label} of session {row['session_id']}"


def export_messages(store: Store, session: str | None = None) -> Iterator[dict[str, Any]]:
    """Every message, in the import format (so an export can be imported again), oldest session first."""
    for r in store.archive.export(session):
        yield {
            "id": r.external_id if r.external_id is not None else str(r.id),
            "session": r.title or r.session_id,
            "role": r.role,
            "speaker": r.speaker,
            "content": r.content,
            "timestamp": _iso(r.created_at),
        }


def _iso(timestamp: float) -> str | None:
    when = index.local_time(timestamp)
    return when.isoformat(timespec="seconds") if when else None  # an unusable stored time is left out


def as_jsonl(items: Iterator[dict[str, Any]]) -> Iterator[str]:
    for item in items:
        yield json.dumps(item, ensure_ascii=False) + "\n"


def as_markdown(items: Iterator[dict[str, Any]]) -> Iterator[str]:
    """One ``#`` heading per session, one paragraph per message."""
    current: str | None = None
    for n, item in enumerate(items):
        if n == 0 or item["session"] != current:
            current = item["session"]
            yield f"# {current}\n\n"
        who = item["speaker"] or item["role"]
        when = (item["timestamp"] or "unknown time").replace("T", " ")
        yield f"**{who}** · {when} · `{item['id']}`\n\n{item['content']}\n\n"
