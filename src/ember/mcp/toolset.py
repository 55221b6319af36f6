"""Each configured MCP server is a toolset named after it, started when it is first used.

The model's first request lists every server as one line of the tool index
(``github: issues and pull requests``); no server is started, so ten servers cost ten lines.
When the model loads the toolset (``tools_load``) or calls one of its tools by name, the
registry asks the server's ``McpLoader`` for its tools: the server starts, lists its tools, and
each becomes ``NAME__tool`` with the server's own JSON schema. A server that offers resources
adds ``NAME__list_resources()`` and ``NAME__read_resource(uri)``; one that offers prompts adds
``NAME__get_prompt(name, arguments)``.

Nothing here imports the ``mcp`` SDK; ``client.py`` does, when a server starts.
"""

from __future__ import annotations

import hashlib
import re
import weakref
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from ember.mcp import McpServerError
from ember.mcp.client import McpConnection
from ember.mcp.config import SEPARATOR, ServerConfig, secret_lookup, server_configs
from ember.mcp.content import prompt_result, resource_result, tool_result
from ember.tools.base import Tool, ToolContext, ToolError, ToolResult, needs_extra
from ember.tools.registry import ToolsetUnavailable

if TYPE_CHECKING:
    from ember.config import Settings
    from ember.tools.registry import ToolRegistry

CONTEXT_PARAM = "_ember_ctx"  # no MCP tool argument is likely to be called this
MAX_DESCRIPTION = 1000
_PAGES = 50  # most pages of a paginated listing

_connections: weakref.WeakKeyDictionary[ToolRegistry, list[McpConnection]] = weakref.WeakKeyDictionary()


class ToolPrefix(tuple):
    """The tool names of a server that has not started: unknown, except that each starts with ``NAME__``.

    The registry decides which unloaded toolset may hold a tool with ``name in toolset.declared``
    and lists declared names in the prompt's index. This answers the first by prefix and lists
    nothing, so calling ``github__create_issue`` starts only the github server, an unknown tool
    name starts none, and the index line stays one short line.
    """

    prefix: str

    def __new__(cls, prefix: str) -> ToolPrefix:
        self = super().__new__(cls, ())
        self.prefix = prefix
        return self

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.startswith(self.prefix)

    def __bool__(self) -> bool:
        return True


def describe(config: ServerConfig) -> str:
    """The index line's description: the configured one, else what the server is."""
    if config.description:
        return config.description
    target = config.target if len(config.target) <= 60 else config.target[:57] + "..."
    return f"tools of the MCP server `{target}`"


def add_mcp_servers(registry: ToolRegistry, settings: Settings) -> None:
    """Declare one toolset per enabled ``[mcp.servers.NAME]``; raises ConfigError for a bad table."""
    for config in server_configs(settings).values():
        if not config.enabled:
            continue
        connection = McpConnection(
            config, lookup=secret_lookup(settings), workspace=settings.workspace_dir, log_dir=settings.home / "logs"
        )
        toolset = registry.add_toolset(
            config.name, describe(config), entry_point=McpLoader(connection), requires=(needs_extra("mcp", "mcp"),)
        )
        toolset.declared = ToolPrefix(config.name + SEPARATOR)
        _connections.setdefault(registry, []).append(connection)


class ServerUnavailable(ToolsetUnavailable, McpServerError):
    """A server that would not start: an McpServerError for ``probe``, explained for the registry."""


def unavailable(server: str, message: str) -> ServerUnavailable:
    """A server that would not start, explained: the whole message for the model, one line for a person."""
    reason = " ".join(message.split())
    reason = re.sub(r" \(log: [^()]*\)$", "", reason)  # `ember mcp test` shows the server's output
    for prefix in (f"MCP server {server!r} could not start: ", f"MCP server {server!r} "):
        if reason.startswith(prefix):
            reason = reason[len(prefix):]
            break
    hint = f"run `ember mcp test {server}`"
    return ServerUnavailable(
        message, reason=reason, hint=hint,
        warning=f"MCP server {server} could not start: {reason} (ember mcp test {server})",
    )


def close_servers(registry: ToolRegistry) -> None:
    """Stop the servers this registry started (the rest are stopped at exit)."""
    for connection in _connections.pop(registry, []):
        connection.close()


class McpLoader:
    """Stands where a plugin's entry point would: the registry calls ``load()`` on first use."""

    def __init__(self, connection: McpConnection) -> None:
        self.connection = connection

    def load(self) -> list[Tool]:
        try:
            info = self.connection.start()
        except McpServerError as exc:
            raise unavailable(self.connection.name, str(exc)) from None
        taken: set[str] = set()
        tools = [self._tool(spec, taken) for spec in self._listing("tools", "list_tools")] if info.tools else []
        if info.resources:
            tools += [t for t in self._resource_tools() if _claim(t.name, taken)]
        if info.prompts:
            try:
                prompts = self._listing("prompts", "list_prompts")
            except McpServerError:  # the tools still work without the prompts
                prompts = []
            if prompts:
                tool = self._prompt_tool(prompts)
                if _claim(tool.name, taken):
                    tools.append(tool)
        return tools

    # --- the server's own tools -----------------------------------------------------------------

    def _listing(self, field: str, method: str) -> list[Any]:
        async def every_page(client: Any) -> list[Any]:
            items: list[Any] = []
            cursor = None
            for _ in range(_PAGES):
                page = await getattr(client, method)(cursor=cursor)
                items += getattr(page, field)
                cursor = page.next_cursor
                if not cursor:
                    break
            return items

        return self.connection.request(method, every_page)

    def _tool(self, spec: Any, taken: set[str]) -> Tool:
        server, mcp_name = self.connection.name, spec.name
        name = tool_name(server, mcp_name, taken)
        parameters = clean_schema(spec.input_schema)

        def call(**arguments: Any) -> ToolResult:
            ctx: ToolContext = arguments.pop(CONTEXT_PARAM)
            result = self._ask(f"tool {mcp_name}", lambda client: client.call_tool(mcp_name, arguments), ctx)
            return tool_result(result, server, self.connection.redact)

        description = " ".join((spec.description or getattr(spec, "title", None) or mcp_name).split())
        return Tool(
            name=name, description=_cap(description), parameters=parameters, func=call, toolset=server,
            context_param=CONTEXT_PARAM, nullable=_nullable(parameters),
            more_hint="Ask the tool for less (a narrower query, a page or range) if it supports that.",
        )

    def _ask(self, what: str, call: Callable[[Any], Awaitable[Any]], ctx: ToolContext) -> Any:
        try:
            return self.connection.request(what, call, cancel=ctx.cancel)
        except McpServerError as exc:
            raise ToolError(str(exc)) from None

    # --- resources and prompts -------------------------------------------------------------------

    def _resource_tools(self) -> list[Tool]:
        server = self.connection.name

        def list_resources(**arguments: Any) -> str:
            ctx: ToolContext = arguments[CONTEXT_PARAM]
            lines = []
            listing = self._ask("list_resources", lambda client: client.list_resources(), ctx)
            for item in listing.resources:
                about = f": {item.description}" if item.description else ""
                lines.append(f"- {item.uri}  {item.name}{' (' + item.mime_type + ')' if item.mime_type else ''}{about}")
            try:
                templates = self._ask("list_resource_templates", lambda c: c.list_resource_templates(), ctx)
            except ToolError:  # optional in the protocol
                templates = None
            template_lines = [
                f"- {t.uri_template}  {t.name}{': ' + t.description if t.description else ''}"
                for t in (templates.resource_templates if templates else [])
            ]
            if listing.next_cursor:
                lines.append("(more resources exist than are listed here)")
            out = ["Resources:", *lines] if lines else ["No fixed resources."]
            if template_lines:
                out += ["Templates (fill in the {placeholders} to make a URI):", *template_lines]
            return self.connection.redact("\n".join(out))

        def read_resource(**arguments: Any) -> ToolResult:
            ctx: ToolContext = arguments[CONTEXT_PARAM]
            uri = str(arguments["uri"])
            result = self._ask(f"resource {uri}", lambda client: client.read_resource(uri), ctx)
            return resource_result(result, self.connection.redact)

        no_arguments = {"type": "object", "properties": {}, "required": []}
        uri_argument = {
            "type": "object",
            "properties": {"uri": {"type": "string", "description": f"A URI from {server}__list_resources."}},
            "required": ["uri"],
        }
        return [
            Tool(
                name=f"{server}{SEPARATOR}list_resources", func=list_resources, toolset=server,
                description=f"List the resources (documents, data) the {server} server offers, and URI templates.",
                parameters=no_arguments, context_param=CONTEXT_PARAM,
            ),
            Tool(
                name=f"{server}{SEPARATOR}read_resource", func=read_resource, toolset=server,
                description=f"Read a resource of the {server} server by its URI.",
                parameters=uri_argument, context_param=CONTEXT_PARAM,
            ),
        ]

    def _prompt_tool(self, prompts: list[Any]) -> Tool:
        server = self.connection.name
        shown = []
        for prompt in prompts:
            args = ", ".join(a.name + ("" if a.required else "?") for a in (prompt.arguments or []))
            shown.append(f"{prompt.name}({args})" + (f": {prompt.description}" if prompt.description else ""))

        def get_prompt(**arguments: Any) -> ToolResult:
            ctx: ToolContext = arguments[CONTEXT_PARAM]
            name = str(arguments["name"])
            values = {str(k): v if isinstance(v, str) else str(v) for k, v in (arguments.get("arguments") or {}).items()}
            result = self._ask(f"prompt {name}", lambda client: client.get_prompt(name, values), ctx)
            return prompt_result(result, server, self.connection.redact)

        parameters = {
            "type": "object",
            "properties": {
                "name": {"type": "string", "enum": [p.name for p in prompts], "description": "The prompt's name."},
                "arguments": {"type": "object", "description": 'The prompt\'s arguments as strings, e.g. {"topic": "x"}.'},
            },
            "required": ["name"],
        }
        return Tool(
            name=f"{server}{SEPARATOR}get_prompt", func=get_prompt, toolset=server, parameters=parameters,
            description=_cap(f"Get a prompt template of the {server} server, filled in. Prompts: " + "; ".join(shown)),
            context_param=CONTEXT_PARAM, nullable=frozenset({"arguments"}),
        )


# --- names and schemas ------------------------------------------------------------------------------


def tool_name(server: str, mcp_name: str, taken: set[str]) -> str:
    """``server__tool``, made a valid Ember tool name (64 characters at most) and unique."""
    base = f"{server}{SEPARATOR}{re.sub(r'[^A-Za-z0-9_-]', '_', mcp_name)}"
    if len(base) > 64:
        base = base[:57] + "_" + hashlib.sha1(mcp_name.encode()).hexdigest()[:6]
    name, n = base, 2
    while not _claim(name, taken):
        name = f"{base[:60]}_{n}"
        n += 1
    return name


def _claim(name: str, taken: set[str]) -> bool:
    if name in taken:
        return False
    taken.add(name)
    return True


def clean_schema(schema: Any) -> dict[str, Any]:
    """The server's input schema as a parameters object every provider accepts."""
    parameters = {k: v for k, v in dict(schema or {}).items() if k != "$schema"}
    parameters["type"] = "object"
    if not isinstance(parameters.get("properties"), dict):
        parameters["properties"] = {}
    return parameters


def _nullable(parameters: dict[str, Any]) -> frozenset[str]:
    """Properties whose schema allows null, so a null argument is passed on rather than dropped."""
    names = set()
    for name, schema in parameters["properties"].items():
        if not isinstance(schema, dict):
            continue
        kinds = schema.get("type")
        options = schema.get("anyOf") or schema.get("oneOf") or []
        if kinds == "null" or (isinstance(kinds, list) and "null" in kinds) or any(
            isinstance(o, dict) and o.get("type") == "null" for o in options
        ):
            names.add(name)
    return frozenset(names)


def _cap(text: str) -> str:
    return text if len(text) <= MAX_DESCRIPTION else text[: MAX_DESCRIPTION - 1] + "…"
