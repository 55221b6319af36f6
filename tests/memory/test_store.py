from __future__ import annotations

import inspect
import threading
import time
import typing
from typing import Protocol

import pytest

from ember.models.base import Message, ToolCall, Usage
from ember.store.ports import PORTS, Store
from ember.store.records import AmbiguousSessionError, StoreError


def test_every_message_field_round_trips(store: Store, store_backend, store_home):
    session = store.create_session(source="telegram", title="t", model="m")
    messages = [
        Message("system", "be brief"),
        Message("user", "héllo\nwörld 🙂", images=["data:image/png;base64,AAAA", "https://x/y.png"]),
        Message(
            "assistant",
            "",
            tool_calls=[
                ToolCall("c1", "shell", {"cmd": "ls -l", "n": [1, 2.5, None, True], "deep": {"é": "ü"}}, '{"cmd"'),
                ToolCall("c2", "broken", {}, raw_arguments="{not json", error="bad JSON at 1"),
            ],
            reasoning="thinking…",
        ),
        Message("tool", "boom", tool_call_id="c1", name="shell", is_error=True),
        Message("assistant", "done", reasoning=""),
    ]
    ids = [store.add_message(session.id, m, model="gpt", usage=Usage(3, 4) if m.role == "assistant" else None)
           for m in messages]
    assert ids == sorted(ids)
    store.close()
    with store_backend.open(store_home) as reopened:
        stored = reopened.get_messages(session.id)
    assert [s.message for s in stored] == messages
    assert [s.id for s in stored] == ids
    assert stored[2].usage == Usage(3, 4) and stored[1].usage is None
    assert stored[2].model == "gpt" and stored[0].session_id == session.id
    assert stored[4].message.reasoning == "" and stored[0].message.reasoning is None


def test_lone_surrogates_do_not_lose_the_message(store):
    sid = store.create_session().id
    store.add_message(sid, Message("tool", "bad \udcff byte", tool_call_id="x",
                                   tool_calls=[ToolCall("i", "n", {"a": "\udcfe"})]))
    [got] = store.get_messages(sid)
    assert got.message.content == "bad \ufffd byte"
    assert got.message.tool_calls[0].arguments == {"a": "\udcfe"}  # JSON keeps it exactly


def test_get_messages_after_id(store):
    sid = store.create_session().id
    ids = [store.add_message(sid, Message("user", str(i))) for i in range(5)]
    assert [m.message.content for m in store.get_messages(sid, after_id=ids[2])] == ["3", "4"]
    assert store.get_messages("nope") == []


def test_add_message_to_unknown_session_raises(store):
    with pytest.raises(StoreError, match="no session"):
        store.add_message("missing", Message("user", "x"))


def test_sessions_crud_and_ordering(store):
    a = store.create_session(source="cli", title="first")
    assert len(a.id) == len("20250101-120000-abcdef") and a.id[8] == "-" and a.id[15] == "-"
    b = store.create_session(source="telegram")
    c = store.create_session(source="cli")
    time.sleep(0.002)
    store.add_message(a.id, Message("user", "bump"))  # a becomes the most recently active
    assert [s.id for s in store.list_sessions()] == [a.id, c.id, b.id]
    assert [s.id for s in store.list_sessions(source="cli")] == [a.id, c.id]
    assert [s.id for s in store.list_sessions(limit=1)] == [a.id]
    assert store.latest_session().id == a.id
    assert store.latest_session("telegram").id == b.id
    assert store.latest_session("discord") is None

    got = store.get_session(a.id)
    assert got.message_count == 1 and got.title == "first" and got.updated_at > got.created_at
    store.set_session_title(b.id, "renamed")
    store.set_session_model(b.id, "strong")
    got = store.get_session(b.id)
    assert (got.title, got.model, got.source) == ("renamed", "strong", "telegram")
    with pytest.raises(StoreError):
        store.set_session_title("missing", "x")

    assert store.delete_session(b.id) is True
    assert store.delete_session(b.id) is False
    assert store.get_session(b.id) is None


def test_session_prefix_lookup(store):
    ids = [store.create_session().id for _ in range(3)]
    for sid in ids:
        assert store.get_session(sid).id == sid
    assert store.get_session("") is None and store.get_session("zzz") is None
    with pytest.raises(AmbiguousSessionError) as info:
        store.get_session(ids[0][:8])  # the date part is shared
    assert set(info.value.candidates) == set(ids)
    assert isinstance(info.value, StoreError) and ids[0] in str(info.value)
    # The shortest prefix that only one id has resolves to it.
    for sid in ids:
        n = next(n for n in range(1, len(sid) + 1) if sum(o.startswith(sid[:n]) for o in ids) == 1)
        assert store.get_session(sid[:n]).id == sid
    assert store.get_session("%") is None and store.get_session("2_") is None


def test_search_ranks_snippets_and_scopes(store):
    s1 = store.create_session().id
    s2 = store.create_session().id
    store.add_message(s1, Message("user", "the deploy script failed on the staging server"))
    best = store.add_message(s1, Message("assistant", "deploy deploy deploy: I fixed the deploy script"))
    store.add_message(s2, Message("user", "Le café était très bon"))
    store.add_message(s2, Message("user", "deploy later"))
    hits = store.search_messages("deploy")
    assert hits[0].message.id == best and len(hits) == 3
    assert hits[0].score >= hits[1].score >= hits[2].score
    assert "**deploy**" in hits[0].snippet
    assert [h.message.session_id for h in store.search_messages("deploy", session_id=s2)] == [s2]
    assert len(store.search_messages("deploy", limit=1)) == 1
    assert [h.message.message.content for h in store.search_messages("CAFE etait")] == ["Le café était très bon"]
    assert len(store.search_messages("dep*")) == 3
    assert store.search_messages("deploy café") == []
    assert len(store.search_messages("staging café", any_terms=True)) == 2


@pytest.mark.parametrize(
    "query",
    ['foo" OR (bar', '"', "(", ")", "*", "AND", "OR NOT", "NEAR(a b)", "col:foo", "^foo", "a\x00b",
     '""""', "-", "+foo", "{a b}", "foo*bar", "'", "\\", "   ", "", "🙂", "a" * 5000],
)
def test_hostile_queries_never_raise(store, query):
    sid = store.create_session().id
    store.add_message(sid, Message("user", 'foo" OR (bar and AND NEAR'))
    store.search_messages(query)


def test_hostile_query_finds_literal_words(store):
    sid = store.create_session().id
    mid = store.add_message(sid, Message("user", "foo or bar"))
    assert [h.message.id for h in store.search_messages('foo" OR (bar')] == [mid]


@pytest.mark.sqlite_only
def test_deleting_a_session_removes_everything(store):
    keep = store.create_session().id
    gone = store.create_session().id
    store.add_message(keep, Message("user", "shared word kept"))
    mid = store.add_message(gone, Message("user", "shared word secret"))
    store.add_summary(gone, "summary", mid)
    store.record_usage(gone, model="m", usage=Usage(1, 1))
    store.record_usage(keep, model="m", usage=Usage(1, 1))
    assert store.delete_session(gone)
    assert store.search_messages("secret") == []
    assert len(store.search_messages("shared")) == 1
    assert store.get_messages(gone) == [] and store.latest_summary(gone) is None
    assert store.usage_totals().calls == 1
    db = store._conn()
    assert db.execute("SELECT COUNT(*) FROM messages_fts WHERE messages_fts MATCH 'secret'").fetchone()[0] == 0
    assert store.integrity_problems() == []


def test_summaries(store):
    sid = store.create_session().id
    assert store.latest_summary(sid) is None
    ids = [store.add_message(sid, Message("user", str(i))) for i in range(4)]
    store.add_summary(sid, "first part", ids[1])
    store.add_summary(sid, "more", ids[3])
    assert store.latest_summary(sid) == ("more", ids[3])
    assert len(store.get_messages(sid)) == 4  # history stays
    with pytest.raises(StoreError):
        store.add_summary("missing", "x", 1)


def test_usage_totals(store):
    a = store.create_session().id
    b = store.create_session().id
    store.record_usage(a, model="cheap", usage=Usage(10, 5), cost=0.01)
    store.record_usage(a, model="strong", usage=Usage(100, 50), cost=1.0, kind="learning")
    store.record_usage(b, model="cheap", usage=Usage(1, 1), cost=0.001)
    store.record_usage(None, model="cheap", usage=Usage(2, 2))
    t = store.usage_totals(a)
    assert (t.calls, t.input_tokens, t.output_tokens) == (2, 110, 55)
    assert t.cost == pytest.approx(1.01)
    assert t.by_model == {
        "cheap": {"calls": 1, "input_tokens": 10, "output_tokens": 5, "cost": 0.01},
        "strong": {"calls": 1, "input_tokens": 100, "output_tokens": 50, "cost": 1.0},
    }
    everything = store.usage_totals()
    assert everything.calls == 4 and everything.by_model["cheap"]["calls"] == 3
    assert store.usage_totals("nobody").calls == 0 and store.usage_totals("nobody").by_model == {}
    with pytest.raises(StoreError):
        store.record_usage("missing", model="m", usage=Usage())


def test_allowed_commands_and_meta(store, store_backend, store_home):
    store.add_allowed_command("git status")
    store.add_allowed_command("ls *")
    store.add_allowed_command("git status")
    assert store.allowed_commands() == ["git status", "ls *"]
    assert store.remove_allowed_command("git status") is True
    assert store.remove_allowed_command("git status") is False
    assert store.get_meta("k") is None
    store.set_meta("k", "1")
    store.set_meta("k", "2")
    store.close()
    with store_backend.open(store_home) as again:
        assert again.get_meta("k") == "2" and again.allowed_commands() == ["ls *"]


@pytest.mark.sqlite_only
def test_integrity_problems_reports_and_rebuild_repairs_search_index(store):
    sid = store.create_session().id
    store.add_message(sid, Message("user", "indexed words"))
    assert store.integrity_problems() == []
    db = store._conn()
    db.execute("DROP TRIGGER messages_fts_insert")  # simulate an index that fell out of step
    store.add_message(sid, Message("user", "unindexed words"))
    problems = store.integrity_problems()
    assert problems and "search index" in problems[0]
    store.rebuild_search_index()
    assert store.integrity_problems() == []
    assert len(store.search_messages("unindexed")) == 1


def _declared(protocol: type) -> set[str]:
    """The public members a protocol declares, its base protocols' included."""
    return {n for cls in protocol.__mro__ if getattr(cls, "_is_protocol", False) and cls is not Protocol
            for n in vars(cls) if not n.startswith("_")}


def _same_signatures(protocol: type, implementation: type) -> None:
    public = {n for n in dir(implementation) if not n.startswith("_")}
    declared = _declared(protocol)
    assert declared == public, implementation
    for name in declared:  # same parameters, defaults and annotations
        if isinstance(inspect.getattr_static(protocol, name), property):
            continue
        assert inspect.signature(getattr(protocol, name)) == inspect.signature(getattr(implementation, name)), name


def test_the_store_satisfies_the_protocol(store):
    def takes(s: Store) -> Store:
        return s
    assert takes(store) is store
    _same_signatures(Store, type(store))
    for name in PORTS:  # each port the store exposes: every method of its protocol, the same way
        port = typing.get_type_hints(inspect.getattr_static(Store, name).fget)["return"]
        _same_signatures(port, type(getattr(store, name)))


def test_closed_store_raises(store):
    store.close()
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.list_sessions()


def test_threads_share_one_store(store):
    sid = store.create_session().id
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(50):
                store.add_message(sid, Message("user", f"t{n} m{i}"))
                store.get_messages(sid)
                store.search_messages(f"t{n}")
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert store.get_session(sid).message_count == 400


def test_usage_totals_of_one_kind_of_call(store):
    sid = store.create_session().id
    store.record_usage(sid, model="big", usage=Usage(100, 20), cost=0.5)
    store.record_usage(None, model="small", usage=Usage(30, 5), kind="learning")
    store.record_usage(sid, model="small", usage=Usage(10, 2), kind="learning")
    learning = store.usage_totals(kind="learning")
    assert (learning.calls, learning.input_tokens, learning.output_tokens) == (2, 40, 7)
    assert set(learning.by_model) == {"small"}
    assert store.usage_totals(sid, kind="learning").calls == 1
    assert store.usage_totals(kind="chat").cost == 0.5
    assert store.usage_totals().calls == 3
