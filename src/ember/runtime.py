"""Wires settings, store, router, tools and approvals into one ``Agent``.

Every door (CLI, gateway, scheduler) builds its agent here, so they share one memory and one
policy. Heavy parts are imported inside the function: this module is on the start-up path.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ember.agent.loop import Agent
    from ember.config import Settings
    from ember.memory.learning.wiring import Learning
    from ember.security.approval import Mode
    from ember.store.ports import Store


@dataclass
class Runtime:
    settings: Settings
    store: Store
    agent: Agent
    learning: Learning | None = None
    # The configured workspace folder this start created (its parent existed); a door says so.
    created_workspace: Path | None = None

    def close(self) -> None:
        # The answer is out by now: let the learning of the last turn finish (bounded), then shut down.
        if self.learning is not None:
            self.learning.close()
        self.agent.router.close()
        self.store.close()
        import sys

        mcp = sys.modules.get("ember.mcp.toolset")  # loaded only when MCP servers are configured
        if mcp is not None:
            mcp.close_servers(self.agent.registry)


def apply_model_choice(settings: Settings, name: str | None) -> None:
    """``--model NAME``: a named model from config.toml, or a model id for the default endpoint.

    Either way the choice answers the ``chat`` and ``tools`` calls, whatever ``[routes]`` says
    about them; ``learning`` keeps its route. A model id replaces the id of ``default`` (so a
    ``learning`` without a route of its own, or a fallback naming ``default``, uses it too).
    """
    if not name:
        return
    if name not in settings.models:
        settings.models["default"].model = name
        name = "default"
    for kind in ("chat", "tools"):
        settings.routes[kind] = name


def prepare_home(home: Path) -> None:
    """Create ``home`` (mode 0700) if it is missing; ``ConfigError`` when it cannot be written."""
    from ember.config import HomeError, home_problem

    problem = home_problem(home, write=True)
    if problem:
        raise HomeError(problem)
    try:
        home.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise HomeError(
            f"cannot create the Ember home {home} (EMBER_HOME): {exc.strerror or exc}; "
            "set EMBER_HOME to a folder you can write"
        ) from None


def open_store(settings: Settings, *, migrate: bool = True) -> Store:
    """The home's store: the backend ``store.backends`` picks for ``settings.store_location``
    (EMBER_DATABASE_URL, ``[store] url``, else SQLite in ``EMBER_HOME/ember.db``); everything
    written to it has the configured keys and real-looking secrets masked (placeholders stay
    readable). With ``migrate`` False, pending migrations are left for ``store.migrate()``."""
    from ember.security.redact import Redactor
    from ember.store.backends import open_backend

    prepare_home(settings.home)
    return open_backend(settings.store_location, redactor=Redactor(settings.secret_values(), placeholders=False),
                        home=settings.home, migrate=migrate)


def prepare_workspace(settings: Settings) -> Path | None:
    """Make sure the tools' folder exists; return it when this call created a configured one.

    Only a missing last component is created: a mistyped ``EMBER_WORKSPACE=/nonexistent/ws``
    is a ``ConfigError``, never a new ``/nonexistent``. The default ``EMBER_HOME/workspace`` is
    created quietly (its parent is the home); a configured folder that is created is returned,
    so the door can say so.
    """
    from ember.config import ConfigError

    path = settings.workspace_dir
    source = f" (set by {settings.workspace_from})" if settings.workspace_from else ""
    fix = f"fix {settings.workspace_from}" if settings.workspace_from else "set EMBER_WORKSPACE to a folder"
    if path.is_dir():
        return None
    if path.exists():
        raise ConfigError(f"the workspace {path}{source} is not a folder; {fix}")
    if not path.parent.is_dir():
        raise ConfigError(
            f"the workspace {path}{source} does not exist, and neither does its parent folder "
            f"{path.parent}; {fix}, or create the parent first"
        )
    try:
        path.mkdir()
    except FileExistsError:  # created meanwhile by another process
        return None
    except OSError as exc:
        raise ConfigError(f"cannot create the workspace {path}{source}: {exc.strerror or exc}; {fix}") from None
    return path if settings.workspace is not None else None


def build_runtime(
    settings: Settings,
    *,
    interactive: bool,
    auto_approve: bool = False,
    ask: Callable[[Any], Any] | None = None,
    store: Store | None = None,
) -> Runtime:
    from ember.agent.context import ContextBuilder
    from ember.agent.loop import Agent
    from ember.models.router import Router
    from ember.security.approval import Approver
    from ember.security.redact import Redactor
    from ember.tools.builtin import builtin_registry

    own_store = store is None
    store = store or open_store(settings)
    for secret in settings.secret_values():  # a store opened elsewhere learns the keys this agent has
        store.redactor.add(secret)
    try:
        created = prepare_workspace(settings)
    except BaseException:
        if own_store:
            store.close()
        raise
    mode: Mode
    if auto_approve:
        mode = "auto"
    elif interactive and ask is not None:
        mode = "interactive"
    else:
        mode = "deny"
    approver = Approver(
        mode=mode,
        ask=ask,
        workspace=settings.workspace_dir,
        allowed=[*settings.tools.allow_commands, *store.allowed_commands()],
        persist=store.add_allowed_command,
    )
    redactor = Redactor(settings.secret_values())
    agent = Agent(
        settings=settings,
        store=store,
        router=Router(settings),
        registry=builtin_registry(settings),
        approver=approver,
        context=ContextBuilder(
            identity=settings.agent.identity or ContextBuilder().identity,
            workspace=str(settings.workspace_dir),
        ),
        interactive=interactive,
        redact=redactor.redact,
    )
    # The learning loop: USER.md, lessons and skills in the prompt; learning after each turn.
    from ember.memory.learning.wiring import install_learning

    learning = install_learning(agent)
    return Runtime(settings=settings, store=store, agent=agent, learning=learning, created_workspace=created)
