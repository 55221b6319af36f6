"""What an Ember database is: its schema, as an append-only list of small named migrations
(``opening.open_database`` applies them, after refusing any file that is not a healthy Ember
database).

Each migration is a function that takes the connection and runs its DDL; its ``__name__`` is
recorded in ``schema_migrations`` when it is applied. To change the schema, append a new
function to ``MIGRATIONS``. Never rename, reorder, edit or remove one that has shipped: a name
in a database that this list does not know means the database was written by a newer Ember,
and the store refuses to touch it.

All migrations run inside one ``BEGIN IMMEDIATE`` transaction, so two processes opening the
same home at once cannot both apply them, and a crash half way leaves the old schema intact.
Python's ``executescript`` is avoided on purpose: it commits any open transaction first.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

APPLICATION_ID = 0x456D6272
"""``PRAGMA application_id`` of every Ember database ("Embr"); tells ours from other SQLite files."""

Migration = Callable[[sqlite3.Connection], None]


def _run(db: sqlite3.Connection, *statements: str) -> None:
    for statement in statements:
        db.execute(statement)


def create_sessions_and_messages(db: sqlite3.Connection) -> None:
    # Usage columns are NULL when a message carries no usage (user and tool messages).
    _run(
        db,
        """CREATE TABLE sessions (
            id TEXT PRIMARY KEY,
            title TEXT,
            source TEXT NOT NULL,
            model TEXT,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL
        )""",
        "CREATE INDEX sessions_updated ON sessions(updated_at)",
        """CREATE TABLE messages (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
            role TEXT NOT NULL,
            content TEXT NOT NULL,
            tool_calls TEXT,
            tool_call_id TEXT,
            name TEXT,
            reasoning TEXT,
            is_error INTEGER NOT NULL DEFAULT 0,
            images TEXT,
            model TEXT,
            input_tokens INTEGER,
            output_tokens INTEGER,
            created_at REAL NOT NULL
        )""",
        "CREATE INDEX messages_session ON messages(session_id, id)",
    )


def create_message_search(db: sqlite3.Connection) -> None:
    # External-content FTS5: the text lives once, in messages; triggers keep the index in step,
    # including rows removed by ON DELETE CASCADE (cascades fire triggers in SQLite).
    _run(
        db,
        """CREATE VIRTUAL TABLE messages_fts USING fts5(
            content, content='messages', content_rowid='id',
            tokenize='unicode61 remove_diacritics 2'
        )""",
        """CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
            INSERT INTO messages_fts(rowid, content) VALUES (new.id, new.content);
        END""",
        """CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
            INSERT INTO messages_fts(messages_fts, rowid, content) VALUES ('delete', old.id, old.content);
        END""",
        """CREATE TRIGGER messages_fts_update AFTER UPDATE OF content ON messages BEGIN
            INSERT INTO messages_fts(messages_fts, rowid, content) VALUES ('delete', old.id, old.content);
            INSERT INTO messages_fts(rowid, content) VALUES (new.id, new.content);
        END""",
    )


def create_summaries(db: sqlite3.Connection) -> None:
    # Compaction adds summaries; the messages they cover stay, so history is never lost.
    _run(
        db,
        """CREATE TABLE summaries (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
            summary TEXT NOT NULL,
            upto_message_id INTEGER NOT NULL,
            created_at REAL NOT NULL
        )""",
        "CREATE INDEX summaries_session ON summaries(session_id, id)",
    )


def create_usage(db: sqlite3.Connection) -> None:
    # One row per model call; session_id is NULL for calls outside a session (learning, cron).
    _run(
        db,
        """CREATE TABLE usage (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            session_id TEXT REFERENCES sessions(id) ON DELETE CASCADE,
            model TEXT NOT NULL,
            kind TEXT NOT NULL,
            input_tokens INTEGER NOT NULL,
            output_tokens INTEGER NOT NULL,
            cost REAL NOT NULL,
            created_at REAL NOT NULL
        )""",
        "CREATE INDEX usage_session ON usage(session_id)",
    )


def create_allowed_commands_and_meta(db: sqlite3.Connection) -> None:
    _run(
        db,
        "CREATE TABLE allowed_commands (pattern TEXT PRIMARY KEY, created_at REAL NOT NULL)",
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    )


def learning_episodes_lessons_skills(db: sqlite3.Connection) -> None:
    # The learning loop (ember.memory.learning.learner): one episode per finished task; lessons learned from
    # corrections and fixed failures, with their use counts; usage counts of the SKILL.md files
    # (the skills themselves are files under EMBER_HOME/skills); and a log of what was learned.
    # ``recent`` holds the latest outcomes of a lesson or skill, oldest first ("1" helped, "0" not).
    _run(
        db,
        """CREATE TABLE episodes (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            session_id TEXT REFERENCES sessions(id) ON DELETE CASCADE,
            task TEXT NOT NULL,
            answer TEXT NOT NULL DEFAULT '',
            steps TEXT NOT NULL DEFAULT '[]',
            errors TEXT NOT NULL DEFAULT '[]',
            outcome TEXT NOT NULL,
            tool_calls INTEGER NOT NULL DEFAULT 0,
            model_calls INTEGER NOT NULL DEFAULT 0,
            input_tokens INTEGER NOT NULL DEFAULT 0,
            output_tokens INTEGER NOT NULL DEFAULT 0,
            lessons_used TEXT NOT NULL DEFAULT '[]',
            skills_used TEXT NOT NULL DEFAULT '[]',
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL
        )""",
        "CREATE INDEX episodes_session ON episodes(session_id, id)",
        """CREATE VIRTUAL TABLE episodes_fts USING fts5(
            task, answer, content='episodes', content_rowid='id', tokenize='unicode61 remove_diacritics 2'
        )""",
        """CREATE TRIGGER episodes_fts_insert AFTER INSERT ON episodes BEGIN
            INSERT INTO episodes_fts(rowid, task, answer) VALUES (new.id, new.task, new.answer);
        END""",
        """CREATE TRIGGER episodes_fts_delete AFTER DELETE ON episodes BEGIN
            INSERT INTO episodes_fts(episodes_fts, rowid, task, answer) VALUES ('delete', old.id, old.task, old.answer);
        END""",
        """CREATE TABLE lessons (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            rule TEXT NOT NULL,
            keywords TEXT NOT NULL DEFAULT '',
            kind TEXT NOT NULL,
            episode_id INTEGER REFERENCES episodes(id) ON DELETE SET NULL,
            uses INTEGER NOT NULL DEFAULT 0,
            successes INTEGER NOT NULL DEFAULT 0,
            recent TEXT NOT NULL DEFAULT '',
            confirmations INTEGER NOT NULL DEFAULT 1,
            retired_at REAL,
            retired_reason TEXT,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL
        )""",
        """CREATE VIRTUAL TABLE lessons_fts USING fts5(
            rule, keywords, content='lessons', content_rowid='id', tokenize='unicode61 remove_diacritics 2'
        )""",
        """CREATE TRIGGER lessons_fts_insert AFTER INSERT ON lessons BEGIN
            INSERT INTO lessons_fts(rowid, rule, keywords) VALUES (new.id, new.rule, new.keywords);
        END""",
        """CREATE TRIGGER lessons_fts_delete AFTER DELETE ON lessons BEGIN
            INSERT INTO lessons_fts(lessons_fts, rowid, rule, keywords) VALUES ('delete', old.id, old.rule, old.keywords);
        END""",
        """CREATE TRIGGER lessons_fts_update AFTER UPDATE OF rule, keywords ON lessons BEGIN
            INSERT INTO lessons_fts(lessons_fts, rowid, rule, keywords) VALUES ('delete', old.id, old.rule, old.keywords);
            INSERT INTO lessons_fts(rowid, rule, keywords) VALUES (new.id, new.rule, new.keywords);
        END""",
        """CREATE TABLE skill_stats (
            name TEXT PRIMARY KEY,
            origin TEXT NOT NULL DEFAULT 'local',
            uses INTEGER NOT NULL DEFAULT 0,
            successes INTEGER NOT NULL DEFAULT 0,
            recent TEXT NOT NULL DEFAULT '',
            last_used REAL,
            archived_at REAL,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL
        )""",
        """CREATE TABLE learning_events (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            kind TEXT NOT NULL,
            subject TEXT NOT NULL,
            detail TEXT NOT NULL DEFAULT '',
            episode_id INTEGER REFERENCES episodes(id) ON DELETE SET NULL,
            created_at REAL NOT NULL
        )""",
    )


def search_index(db: sqlite3.Connection) -> None:
    # Memory search (ember.memory.search.federated, docs/memory-search.md). Imported messages keep the id they
    # had in their source and who spoke them. search_fts indexes each searchable message (rowid =
    # message id) with its neighbours' text as a second column; search_vectors holds its embeddings
    # (part 0: the message, 1..: its sentences) as int8; search_times the periods it talks about;
    # search_terms a vector per indexed word, for query expansion. All of it can be rebuilt from messages.
    _run(
        db,
        "ALTER TABLE messages ADD COLUMN external_id TEXT",
        "ALTER TABLE messages ADD COLUMN speaker TEXT",
        "CREATE UNIQUE INDEX messages_external ON messages(session_id, external_id) WHERE external_id IS NOT NULL",
        "CREATE INDEX messages_external_id ON messages(external_id) WHERE external_id IS NOT NULL",
        "CREATE INDEX messages_created ON messages(created_at)",
        "CREATE VIRTUAL TABLE search_fts USING fts5(body, context, tokenize='porter unicode61 remove_diacritics 2')",
        """CREATE TRIGGER search_fts_forget AFTER DELETE ON messages BEGIN
            DELETE FROM search_fts WHERE rowid = old.id;
        END""",
        """CREATE TABLE search_vectors (
            message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
            part INTEGER NOT NULL,
            model TEXT NOT NULL,
            vector BLOB NOT NULL,
            PRIMARY KEY (message_id, part)
        )""",
        """CREATE TABLE search_times (
            message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
            start REAL NOT NULL,
            end REAL NOT NULL
        )""",
        "CREATE INDEX search_times_message ON search_times(message_id)",
        "CREATE TABLE search_terms (term TEXT PRIMARY KEY, model TEXT NOT NULL, vector BLOB NOT NULL)",
    )


def message_reasoning_blocks(db: sqlite3.Connection) -> None:
    # Message.reasoning_blocks: a provider's reasoning blocks exactly as it sent them (Anthropic's
    # signed thinking), a JSON list, NULL when there are none. Needed to resume a tool loop.
    _run(db, "ALTER TABLE messages ADD COLUMN reasoning_blocks TEXT")


def search_claims(db: sqlite3.Connection) -> None:
    # The messages an indexer is embedding right now (ember.memory.search.embedding_index), so that two
    # processes filling the embedding index at once take different batches. A claim whose process
    # is gone is taken over; a message is embedded once it has a search_vectors row of part 0.
    _run(db, "CREATE TABLE search_claims (message_id INTEGER PRIMARY KEY, owner TEXT NOT NULL, claimed_at REAL NOT NULL)")


def gateway_inbox_outbox(db: sqlite3.Connection) -> None:
    # The gateway (ember.gateway.ledger): every inbound message before any work starts, every
    # outbound one before it is sent (marked delivered only on the platform's ack), which session
    # each chat or thread is, the senders allowed by pairing, and one-time pairing codes.
    _run(
        db,
        """CREATE TABLE gateway_inbox (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            event_id TEXT NOT NULL UNIQUE,
            platform TEXT NOT NULL,
            chat TEXT NOT NULL,
            thread TEXT,
            user_id TEXT NOT NULL,
            user_name TEXT NOT NULL DEFAULT '',
            text TEXT NOT NULL,
            payload TEXT,
            status TEXT NOT NULL,
            session_id TEXT,
            attempts INTEGER NOT NULL DEFAULT 0,
            error TEXT,
            received_at REAL NOT NULL,
            updated_at REAL NOT NULL
        )""",
        "CREATE INDEX gateway_inbox_status ON gateway_inbox(status, id)",
        """CREATE TABLE gateway_outbox (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            platform TEXT NOT NULL,
            chat TEXT NOT NULL,
            thread TEXT,
            text TEXT NOT NULL,
            buttons TEXT,
            request_id TEXT,
            file TEXT,
            kind TEXT NOT NULL,
            inbox_id INTEGER,
            part INTEGER NOT NULL DEFAULT 0,
            status TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            next_at REAL NOT NULL,
            last_error TEXT,
            ack TEXT,
            created_at REAL NOT NULL,
            delivered_at REAL
        )""",
        "CREATE INDEX gateway_outbox_status ON gateway_outbox(status, platform, chat, id)",
        """CREATE TABLE gateway_chats (
            platform TEXT NOT NULL,
            chat TEXT NOT NULL,
            thread TEXT NOT NULL DEFAULT '',
            session_id TEXT NOT NULL,
            person TEXT NOT NULL DEFAULT '',
            updated_at REAL NOT NULL,
            PRIMARY KEY (platform, chat, thread)
        )""",
        """CREATE TABLE gateway_senders (
            platform TEXT NOT NULL,
            user_id TEXT NOT NULL,
            person TEXT NOT NULL,
            how TEXT NOT NULL,
            created_at REAL NOT NULL,
            PRIMARY KEY (platform, user_id)
        )""",
        """CREATE TABLE gateway_pairing (
            code TEXT PRIMARY KEY,
            expires_at REAL NOT NULL,
            used_by TEXT
        )""",
    )


def cron_jobs_and_runs(db: sqlite3.Connection) -> None:
    # Scheduled jobs (ember.scheduler.jobs) and each run of them. A run is claimed by inserting its
    # (job, due time, attempt) row: two processes ticking at once cannot both run it.
    _run(
        db,
        """CREATE TABLE cron_jobs (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            schedule TEXT NOT NULL,
            kind TEXT NOT NULL,
            expr TEXT NOT NULL DEFAULT '',
            at REAL,
            tz TEXT NOT NULL DEFAULT '',
            task TEXT NOT NULL,
            deliver TEXT NOT NULL,
            enabled INTEGER NOT NULL DEFAULT 1,
            missed TEXT NOT NULL DEFAULT 'once',
            retries INTEGER NOT NULL DEFAULT 1,
            timeout REAL NOT NULL DEFAULT 600,
            next_at REAL,
            last_at REAL,
            created_by TEXT NOT NULL DEFAULT 'cli',
            created_at REAL NOT NULL
        )""",
        "CREATE INDEX cron_jobs_due ON cron_jobs(enabled, next_at)",
        """CREATE TABLE cron_runs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            job_id TEXT NOT NULL,
            due_at REAL NOT NULL,
            attempt INTEGER NOT NULL DEFAULT 1,
            status TEXT NOT NULL,
            owner TEXT NOT NULL DEFAULT '',
            started_at REAL,
            finished_at REAL,
            session_id TEXT,
            input_tokens INTEGER NOT NULL DEFAULT 0,
            output_tokens INTEGER NOT NULL DEFAULT 0,
            cost REAL NOT NULL DEFAULT 0,
            error TEXT,
            outbox_ids TEXT,
            UNIQUE (job_id, due_at, attempt)
        )""",
        "CREATE INDEX cron_runs_job ON cron_runs(job_id, id)",
    )


def people(db: sqlite3.Connection) -> None:
    # Whose a session and a lesson are: '' is the owner (the terminal's user), else a gateway person
    # ("telegram:123456789", or a name given by `ember gateway link`). Memory search and lessons
    # are scoped to one person, so one person's memory never reaches another's prompt.
    _run(
        db,
        "ALTER TABLE sessions ADD COLUMN person TEXT NOT NULL DEFAULT ''",
        "CREATE INDEX sessions_person ON sessions(person)",
        "ALTER TABLE lessons ADD COLUMN person TEXT NOT NULL DEFAULT ''",
    )


def gateway_claims(db: sqlite3.Connection) -> None:
    # Several gateway workers share one store: an inbox item or an outbox item being worked on is
    # claimed by one worker (claimed_by, its "host:pid:token") until claimed_until, renewed while it
    # works; a claim that lapses (its worker died) lets another worker take the item. The partial
    # index finds each chat's first unfinished item, which alone may run (per-chat order).
    _run(
        db,
        "ALTER TABLE gateway_inbox ADD COLUMN claimed_by TEXT",
        "ALTER TABLE gateway_inbox ADD COLUMN claimed_until REAL",
        "CREATE INDEX gateway_inbox_open ON gateway_inbox(platform, chat, id) WHERE status IN ('queued', 'running')",
        "ALTER TABLE gateway_outbox ADD COLUMN claimed_by TEXT",
        "ALTER TABLE gateway_outbox ADD COLUMN claimed_until REAL",
    )


def gateway_workers(db: sqlite3.Connection) -> None:
    # Each gateway worker's latest heartbeat (id: its "host:pid:token" owner name), for
    # `ember gateway status`: when it started, when it last beat, how often it beats, and its
    # channels' states as JSON. A worker that stops deletes its row; a row silent for a day is
    # deleted by the next heartbeat of any worker. The single "gateway:status" meta key this
    # replaces is dropped.
    _run(
        db,
        """CREATE TABLE gateway_workers (
            id TEXT PRIMARY KEY,
            host TEXT NOT NULL,
            pid INTEGER NOT NULL,
            started_at REAL NOT NULL,
            beat_at REAL NOT NULL,
            beat_every REAL NOT NULL,
            channels TEXT NOT NULL DEFAULT '{}'
        )""",
        "DELETE FROM meta WHERE key = 'gateway:status'",
    )


def gateway_files(db: sqlite3.Connection) -> None:
    # The files that came with an inbox item (a photo, a document, a voice note), fetched by the
    # worker that received the message and kept here until the worker that runs its turn (any
    # worker) has written them into its workspace: one row per file, by its place in the message;
    # data is NULL when the file is settled without its bytes (problem says why: it could not be
    # fetched, it is over [gateway] max_file_mb). Rows of items whose turn is over are pruned.
    _run(
        db,
        """CREATE TABLE gateway_files (
            inbox_id INTEGER NOT NULL,
            number INTEGER NOT NULL,
            name TEXT NOT NULL,
            data BLOB,
            problem TEXT,
            created_at REAL NOT NULL,
            PRIMARY KEY (inbox_id, number)
        )""",
    )


MIGRATIONS: list[Migration] = [
    create_sessions_and_messages,
    create_message_search,
    create_summaries,
    create_usage,
    create_allowed_commands_and_meta,
    learning_episodes_lessons_skills,
    search_index,
    message_reasoning_blocks,
    search_claims,
    gateway_inbox_outbox,
    cron_jobs_and_runs,
    people,
    gateway_claims,
    gateway_workers,
    gateway_files,
    # Append new migrations here (episodes, lessons, skill stats, jobs, outbox, ...).
]
