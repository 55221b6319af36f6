"""Schemas built from type hints and docstrings, and arguments checked against them."""

from __future__ import annotations

from typing import Literal

import pytest

from ember.tools.registry import Tool, ToolContext, tool
from ember.tools.schema import ToolDefinitionError, parse_docstring, validate_arguments


@tool
def sample(
    ctx: ToolContext,
    name: str,
    count: int = 3,
    ratio: float = 0.5,
    loud: bool = False,
    tags: list[str] | None = None,
    ids: list[int] | None = None,
    meta: dict | None = None,
    mode: Literal["fast", "slow"] = "fast",
    note: str | None = None,
) -> str:
    """Do a sample thing.

    A second paragraph for developers, not for the model.

    Args:
        name: Who to greet.
        count: How many times,
            continued on a second line.
        ratio: A ratio.
        loud: Shout.
        tags: Labels.
        ids: Numbers.
        meta: Extra data.
        mode: Speed.
        note: Optional note.

    Returns:
        Nothing interesting.
    """
    return f"{name}:{count}:{mode}"


def test_schema_from_hints_and_docstring():
    assert isinstance(sample, Tool)
    schema = sample.schema
    assert schema["name"] == "sample"
    assert schema["description"] == "Do a sample thing."
    props = schema["parameters"]["properties"]
    assert "ctx" not in props  # injected, never shown to the model
    assert props["name"] == {"type": "string", "description": "Who to greet."}
    assert props["count"] == {"type": "integer", "description": "How many times, continued on a second line.",
                              "default": 3}
    assert props["ratio"]["type"] == "number"
    assert props["loud"]["type"] == "boolean"
    assert props["tags"] == {"type": "array", "items": {"type": "string"}, "description": "Labels."}
    assert props["ids"]["items"] == {"type": "integer"}
    assert props["meta"]["type"] == "object"
    assert props["mode"] == {"type": "string", "enum": ["fast", "slow"], "description": "Speed.", "default": "fast"}
    assert "default" not in props["note"]
    assert schema["parameters"]["required"] == ["name"]
    assert sample.context_param == "ctx"


def test_tool_stays_callable_and_decorator_takes_arguments():
    @tool(name="renamed", toolset="extra", description="Custom description.")
    def original(x: int) -> int:
        """Ignored summary.

        Args:
            x: A number.
        """
        return x * 2

    assert original(4) == 8
    assert original.name == "renamed" and original.toolset == "extra"
    assert original.description == "Custom description."
    assert sample(None, "ann") == "ann:3:fast"


def test_refuses_untyped_parameter():
    def untyped(path) -> str:
        """Read.

        Args:
            path: A path.
        """
        return path

    with pytest.raises(ToolDefinitionError, match="'path' has no type hint"):
        tool(untyped)


def test_refuses_undescribed_parameter():
    def undocumented(path: str, limit: int = 1) -> str:
        """Read.

        Args:
            path: A path.
        """
        return path

    with pytest.raises(ToolDefinitionError, match="'limit' is not described"):
        tool(undocumented)


@pytest.mark.parametrize("hint", ["set[str]", "int | str", "tuple[int, int]"])
def test_refuses_types_without_a_clear_schema(hint):
    namespace: dict = {}
    exec(
        f"def f(x: {hint}) -> str:\n    '''Do it.\n\n    Args:\n        x: Thing.\n    '''\n    return ''",
        namespace,
    )
    with pytest.raises(ToolDefinitionError):
        tool(namespace["f"])


def test_refuses_missing_summary_and_var_args():
    def nodoc(x: int) -> int:
        return x

    with pytest.raises(ToolDefinitionError):
        tool(nodoc)

    def star(*items: str) -> str:
        """Join.

        Args:
            items: Items.
        """
        return ""

    with pytest.raises(ToolDefinitionError, match=r"\*args"):
        tool(star)


def test_parse_docstring_sections():
    summary, args = parse_docstring(
        """Summary line
        continues here.

        Args:
            a (int): First.
            b: Second
                wraps.

        Raises:
            ValueError: never an arg.
        """
    )
    assert summary == "Summary line continues here."
    assert args == {"a": "First.", "b": "Second wraps."}


def check(**arguments):
    return validate_arguments(sample.parameters, sample.nullable, arguments)


def test_safe_coercions():
    clean, problems = check(name=42, count="7", ratio="0.25", loud="true", tags='["a", "b"]', ids=["1", 2.0],
                            meta='{"k": 1}', mode="SLOW")
    assert problems == []
    assert clean == {"name": "42", "count": 7, "ratio": 0.25, "loud": True, "tags": ["a", "b"], "ids": [1, 2],
                     "meta": {"k": 1}, "mode": "slow"}


def test_none_means_default_and_nullable_passes_none():
    clean, problems = check(name="x", count=None, note=None)
    assert problems == []
    assert "count" not in clean and clean["note"] is None


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({}, "missing required argument 'name'"),
        ({"name": "x", "count": "many"}, "'count' expected an integer, got 'many'"),
        ({"name": "x", "count": 2.5}, "'count' expected an integer"),
        ({"name": "x", "loud": "perhaps"}, "'loud' expected a boolean"),
        ({"name": "x", "tags": "not a list"}, "'tags' expected an array"),
        ({"name": "x", "ids": [1, "two"]}, "'ids' item 1: expected an integer"),
        ({"name": "x", "mode": "medium"}, "'mode' must be one of \"fast\", \"slow\""),
        ({"name": ["x"]}, "'name' expected a string"),
        ({"name": "x", "colour": "red"}, "unknown argument 'colour'"),
        ({"name": "x", "count": True}, "'count' expected an integer"),
    ],
)
def test_validation_errors_the_model_can_fix(arguments, expected):
    _, problems = check(**arguments)
    assert any(expected in p for p in problems), problems
