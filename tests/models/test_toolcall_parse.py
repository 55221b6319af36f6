import pytest

from ember.models.toolcall_parse import loads_relaxed, make_tool_call, parse_arguments, parse_hermes_block

REPAIRABLE = [
    ('{"path": "a.txt"}', {"path": "a.txt"}),
    ('{"path": "a.txt",}', {"path": "a.txt"}),
    ('{"items": [1, 2, 3,],}', {"items": [1, 2, 3]}),
    ("{'path': 'a.txt'}", {"path": "a.txt"}),
    ("{'text': 'He said \"hi\"'}", {"text": 'He said "hi"'}),
    ("{'text': 'it\\'s'}", {"text": "it's"}),
    ('{"force": True, "dry": False, "limit": None}', {"force": True, "dry": False, "limit": None}),
    ("{path: 'a.txt', count: 3}", {"path": "a.txt", "count": 3}),
    ('```json\n{"path": "a.txt"}\n```', {"path": "a.txt"}),
    ('```\n{"path": "a.txt"}\n```', {"path": "a.txt"}),
    ('"{\\"path\\": \\"a.txt\\"}"', {"path": "a.txt"}),
    ('{"code": "line1\nline2"}', {"code": "line1\nline2"}),
    ("{'n': 1e3, 'm': -2.5, 'k': +4}", {"n": 1000.0, "m": -2.5, "k": 4}),
    ('{"note": "True and None stay text, {not: keys}"}', {"note": "True and None stay text, {not: keys}"}),
    ("  {'a': {'b': [True, None]}}  ", {"a": {"b": [True, None]}}),
]


@pytest.mark.parametrize(("raw", "expected"), REPAIRABLE)
def test_repairs_what_has_one_meaning(raw, expected):
    args, error = parse_arguments(raw)
    assert error is None
    assert args == expected


@pytest.mark.parametrize(
    "raw",
    [
        '{"path": "a.txt"',  # truncated: the rest may have mattered
        '{"content": "unterminated',
        "{path: a.txt}",  # an unquoted value would be a guess
        "[1, 2]",
        '"just a string"',
        "42",
        "call read_file on a.txt",
    ],
)
def test_refuses_to_guess_and_explains(raw):
    call = make_tool_call("read_file", raw, "id1")
    assert call.error and "read_file" in call.error and "JSON" in call.error
    assert call.raw_arguments == raw
    assert call.arguments == {}
    assert call.id == "id1"


def test_empty_arguments_mean_no_arguments():
    assert parse_arguments("") == ({}, None)
    assert parse_arguments(None) == ({}, None)
    assert parse_arguments({"a": 1}) == ({"a": 1}, None)


def test_missing_name_and_missing_id():
    call = make_tool_call("", '{"a": 1}')
    assert call.error and "no function name" in call.error
    first, second = make_tool_call("f", "{}"), make_tool_call("f", "{}")
    assert first.id.startswith("call_") and first.id != second.id


def test_never_raises_on_garbage():
    for raw in ["", "{", "}}}", "'", "\\", "{'a", '{"a": "\\', "\x00\x01", "{,}", "[", "{a:}", "{\"a\" 1}", "```", "nul"]:
        call = make_tool_call("f", raw)
        assert call.name == "f"
        for block in parse_hermes_block(raw):
            assert block.error or block.name


def test_loads_relaxed_strips_prose_around_the_object():
    assert loads_relaxed('Sure! {"a": 1} Hope that helps.') == {"a": 1}


@pytest.mark.parametrize(
    ("block", "name", "args"),
    [
        ('\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n', "get_weather", {"city": "Paris"}),
        ("{'arguments': {'symbol': 'TSLA'}, 'name': 'get_current_stock_price'}", "get_current_stock_price",
         {"symbol": "TSLA"}),
        ('{"name": "f", "arguments": "{\\"x\\": 1}"}', "f", {"x": 1}),
        ('{"name": "f", "parameters": {"x": 1}}', "f", {"x": 1}),
        ('{"function": {"name": "f", "arguments": "{\\"x\\": 1}"}}', "f", {"x": 1}),
        ('```json\n{"name": "f", "arguments": {"x": 1,}}\n```', "f", {"x": 1}),
        ('{"name": "f"}', "f", {}),
    ],
)
def test_hermes_block(block, name, args):
    [call] = parse_hermes_block(block)
    assert (call.name, call.arguments, call.error) == (name, args, None)
    assert call.id.startswith("call_")


def test_hermes_block_with_a_list_of_calls():
    calls = parse_hermes_block('[{"name": "a", "arguments": {}}, {"name": "b", "arguments": {"x": 2}}]')
    assert [(c.name, c.arguments) for c in calls] == [("a", {}), ("b", {"x": 2})]
    assert calls[0].id != calls[1].id


def test_hermes_block_that_cannot_be_read_keeps_name_and_raw_text():
    [call] = parse_hermes_block('{"name": "write_file", "arguments": {"path": "a.txt", "content": "x')
    assert call.name == "write_file"
    assert call.error and "write_file" in call.error
    assert call.raw_arguments and call.raw_arguments.startswith('{"name"')


def test_hermes_block_without_name():
    [call] = parse_hermes_block('{"arguments": {"x": 1}}')
    assert call.error and "no function name" in call.error
    [empty] = parse_hermes_block("   ")
    assert empty.error and "empty" in empty.error
