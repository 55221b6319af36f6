"""JSON schemas from typed Python functions, and arguments checked against them.

The model only sees the schema, so it has to be exact and short: types from the hints, one
description per parameter from the docstring's ``Args:`` section, the summary as the tool's
description. A parameter without a type or a description is refused at definition time rather
than shown to the model as a guess. Arguments coming back are validated against the same schema,
with the few coercions that cannot change meaning ("3" -> 3, "true" -> True, a JSON-encoded list).
"""

from __future__ import annotations

import inspect
import json
import re
import types
import typing
from collections.abc import Callable
from typing import Any, Literal, Union, get_args, get_origin


class ToolDefinitionError(Exception):
    """A tool is defined in a way the model could misread (missing type or description...)."""


_SIMPLE = {str: "string", int: "integer", float: "number", bool: "boolean", dict: "object", list: "array"}
_SECTION = re.compile(r"^(Args|Arguments|Parameters|Returns?|Yields?|Raises|Examples?|Notes?|See Also|Attributes):\s*$")
_ARG_LINE = re.compile(r"^\*{0,2}(\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")
_TRUE = {"true", "yes", "1", "on"}
_FALSE = {"false", "no", "0", "off"}


def parse_docstring(doc: str | None) -> tuple[str, dict[str, str]]:
    """The summary (first paragraph, one line) and the ``Args:`` descriptions of a Google-style docstring."""
    lines = inspect.cleandoc(doc or "").splitlines()
    summary: list[str] = []
    for line in lines:
        if not line.strip() or _SECTION.match(line.strip()):
            break
        summary.append(line.strip())
    args: dict[str, str] = {}
    in_args, current, indent_of_names = False, None, None
    for line in lines:
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        if indent == 0 and stripped:
            header = _SECTION.match(stripped)
            in_args = header is not None and header.group(1) in ("Args", "Arguments", "Parameters")
            current = None
            continue
        if not in_args or not stripped:
            continue
        match = _ARG_LINE.match(stripped)
        if match and (indent_of_names is None or indent <= indent_of_names):
            indent_of_names, current = indent, match.group(1)
            args[current] = match.group(2).strip()
        elif current:
            args[current] = f"{args[current]} {stripped}".strip()
    return " ".join(summary), args


def json_schema_for(hint: Any, where: str) -> tuple[dict[str, Any], bool]:
    """(schema, nullable) for a type hint; ``X | None`` is X and nullable."""
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        members = [a for a in get_args(hint) if a is not type(None)]
        if len(members) != 1:
            raise ToolDefinitionError(f"{where}: only `X | None` unions are supported, got {hint!r}")
        return json_schema_for(members[0], where)[0], True
    if origin is Literal:
        values = list(get_args(hint))
        kinds = {type(v) for v in values}
        if len(kinds) != 1 or next(iter(kinds)) not in _SIMPLE:
            raise ToolDefinitionError(f"{where}: Literal values must all be str, int, float or bool")
        return {"type": _SIMPLE[type(values[0])], "enum": values}, False
    if hint in _SIMPLE:
        return {"type": _SIMPLE[hint]}, False
    if origin is list:
        schema: dict[str, Any] = {"type": "array"}
        if get_args(hint):
            schema["items"] = json_schema_for(get_args(hint)[0], where)[0]
        return schema, False
    if origin is dict:
        return {"type": "object"}, False
    raise ToolDefinitionError(
        f"{where}: {hint!r} has no JSON schema; use str, int, float, bool, list[...], dict or Literal[...]"
    )


def build_parameters(
    func: Callable[..., Any], tool_name: str, context_type: type
) -> tuple[dict[str, Any], frozenset[str], str | None, str]:
    """(parameters schema, nullable names, name of the injected context parameter, summary)."""
    summary, arg_docs = parse_docstring(func.__doc__)
    try:
        hints = typing.get_type_hints(func)
    except Exception as exc:
        raise ToolDefinitionError(f"tool {tool_name}: cannot resolve its type hints ({exc})") from exc
    properties: dict[str, Any] = {}
    required: list[str] = []
    nullable: set[str] = set()
    context_param = None
    for param in inspect.signature(func).parameters.values():
        where = f"tool {tool_name}, parameter {param.name!r}"
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise ToolDefinitionError(f"{where}: *args and **kwargs cannot be described to a model")
        hint = hints.get(param.name)
        if hint is None:
            raise ToolDefinitionError(f"{where} has no type hint")
        if isinstance(hint, type) and issubclass(hint, context_type):
            context_param = param.name
            continue
        if not arg_docs.get(param.name):
            raise ToolDefinitionError(f"{where} is not described in the docstring's Args: section")
        schema, is_nullable = json_schema_for(hint, where)
        schema["description"] = arg_docs[param.name]
        if is_nullable:
            nullable.add(param.name)
        if param.default is inspect.Parameter.empty:
            required.append(param.name)
        elif param.default is not None:
            try:
                json.dumps(param.default)
            except TypeError as exc:
                raise ToolDefinitionError(f"{where}: the default {param.default!r} is not JSON") from exc
            schema["default"] = param.default
        properties[param.name] = schema
    parameters = {"type": "object", "properties": properties, "required": required}
    return parameters, frozenset(nullable), context_param, summary


# --- validation ---------------------------------------------------------------------------------


def _preview(value: Any) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def coerce(value: Any, schema: dict[str, Any]) -> Any:
    """``value`` as the type ``schema`` asks for; raises ValueError with a message for the model."""
    kind = schema.get("type")
    if "enum" in schema:
        options = schema["enum"]
        value = coerce(value, {"type": kind})
        if value in options:
            return value
        if isinstance(value, str):
            for option in options:
                if isinstance(option, str) and option.lower() == value.strip().lower():
                    return option
        raise ValueError(f"must be one of {', '.join(json.dumps(o) for o in options)}, got {_preview(value)}")
    if kind == "string":
        if isinstance(value, str):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
    elif kind == "integer":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value):
            return int(value)
    elif kind == "number":
        if isinstance(value, int | float) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
    elif kind == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        if value in (0, 1):
            return bool(value)
    elif kind == "array":
        value = _json_string(value, list)
        if isinstance(value, list | tuple):
            items = schema.get("items")
            if not items:
                return list(value)
            out = []
            for i, item in enumerate(value):
                try:
                    out.append(coerce(item, items))
                except ValueError as exc:
                    raise ValueError(f"item {i}: {exc}") from None
            return out
    elif kind == "object":
        value = _json_string(value, dict)
        if isinstance(value, dict):
            return value
    else:
        return value
    raise ValueError(f"expected {'an' if kind in ('integer', 'array', 'object') else 'a'} {kind}, got {_preview(value)}")


def _json_string(value: Any, wanted: type) -> Any:
    if isinstance(value, str) and value.strip()[:1] in "[{":
        try:
            parsed = json.loads(value)
        except ValueError:
            return value
        return parsed if isinstance(parsed, wanted) else value
    return value


def validate_arguments(
    parameters: dict[str, Any], nullable: frozenset[str], arguments: dict[str, Any]
) -> tuple[dict[str, Any], list[str]]:
    """(arguments ready for the function, problems the model can fix)."""
    properties: dict[str, Any] = parameters.get("properties", {})
    required = set(parameters.get("required", []))
    clean: dict[str, Any] = {}
    problems = []
    for name in arguments:
        if name not in properties:
            problems.append(f"unknown argument {name!r}")
    for name, schema in properties.items():
        value = arguments.get(name)
        if value is None:
            if name in arguments and name in nullable:
                clean[name] = None
            elif name in required:
                problems.append(f"missing required argument {name!r}")
            continue
        try:
            clean[name] = coerce(value, schema)
        except ValueError as exc:
            problems.append(f"{name!r} {exc}")
    return clean, problems


def signature_line(name: str, parameters: dict[str, Any]) -> str:
    """``read_file(path: string, offset?: integer)``: a compact reminder shown with argument errors."""
    required = set(parameters.get("required", []))
    parts = []
    for pname, schema in parameters.get("properties", {}).items():
        kind = schema.get("type", "any")
        if "enum" in schema:
            kind = "|".join(json.dumps(v) for v in schema["enum"])
        elif kind == "array" and "items" in schema:
            kind = f"{schema['items'].get('type', 'any')}[]"
        parts.append(f"{pname}{'' if pname in required else '?'}: {kind}")
    return f"{name}({', '.join(parts)})"
