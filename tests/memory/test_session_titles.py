"""A title given with a message is kept only while the session has none, in the same transaction."""

import pytest

from ember.models.base import Message
from ember.store.records import StoreError


def test_the_first_title_wins(store):
    session = store.create_session(source="run").id
    store.add_message(session, Message("user", "first"), title="First question")
    store.add_message(session, Message("user", "second"), title="Second question")
    info = store.get_session(session)
    assert info.title == "First question" and info.message_count == 2
    assert [s.title for s in store.list_sessions()] == ["First question"]


def test_an_empty_title_is_replaced_and_none_changes_nothing(store):
    session = store.create_session(title="").id
    store.add_message(session, Message("user", "x"))
    assert store.get_session(session).title == ""
    store.add_message(session, Message("user", "y"), title="Now titled")
    assert store.get_session(session).title == "Now titled"


def test_an_unknown_session_is_still_refused(store):
    with pytest.raises(StoreError, match="no session"):
        store.add_message("nope", Message("user", "x"), title="t")
