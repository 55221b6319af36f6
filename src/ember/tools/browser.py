"""The browser toolset: a real Chromium the model drives by reading numbered snapshots.

``browser_open`` starts the session's browser on first use (see ``browser_session.py``) and
returns a snapshot: the page's headings and text, and its links, buttons and fields numbered
``[1]``, ``[2]``... The model clicks, types and selects by number. Actions that may change the
page (open, click, submit, press, back) return the new snapshot, so the model always acts on
current numbers. Screenshots are saved as PNG files in the workspace.

Needs the ``playwright`` package (``ember-agent[browser]``) and a Chromium on the system
(``[browser] executable``, ``EMBER_BROWSER``, or found on PATH). Playwright's own browser
download is never used.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from typing import TYPE_CHECKING, Any, Literal

from ember.tools.base import ToolContext, ToolError, needs_extra, tool
from ember.tools.browser_session import SNAPSHOT_JS, BrowserSession, BrowserSettings, render_snapshot
from ember.tools.http import config_error, expect, section

if TYPE_CHECKING:
    from ember.config import Settings

STATE_KEY = "browser"
# Debian's real binary first: /usr/bin/chromium is a shell wrapper that prints noise on start.
CANDIDATES = ("/usr/lib/chromium/chromium", "chromium", "chromium-browser", "google-chrome", "google-chrome-stable",
              "chrome", "microsoft-edge")
MAX_SNAPSHOT_ITEMS = 1500
SETTLE_MS = 2000  # longest wait for requests an action started to finish
_KEYS = {"executable", "headless", "timeout", "width", "height", "args", "screenshot_dir", "snapshot_chars",
         "idle_timeout"}
_starting = threading.Lock()
REQUIRES = (needs_extra("playwright", "browser"),)  # also in catalog.TOOLSET_REQUIRES


def browser_settings(settings: Settings | None) -> BrowserSettings:
    """``[browser]`` from config.toml, validated; errors name the key."""
    table = section(settings, "browser")
    unknown = sorted(set(table) - _KEYS)
    if unknown:
        raise config_error(f"[browser] has unknown keys {unknown}; known keys: {', '.join(sorted(_KEYS))}")
    executable = table.get("executable") or os.environ.get("EMBER_BROWSER") or _find_chromium()
    if executable is None:
        raise ToolError(
            "No Chromium was found. Ask the user to install one (Debian/Ubuntu: apt-get install chromium) or to "
            "set [browser] executable in config.toml or EMBER_BROWSER to a Chromium or Chrome binary."
        )
    resolved = shutil.which(expect(executable, str, "[browser].executable"))
    if resolved is None:
        raise config_error(f"[browser].executable (or EMBER_BROWSER) = {executable!r} is not an executable file")
    args = expect(table.get("args", []), list, "[browser].args")
    return BrowserSettings(
        executable=resolved,
        headless=expect(table.get("headless", True), bool, "[browser].headless"),
        timeout=float(expect(table.get("timeout", 30), (int, float), "[browser].timeout")),
        width=expect(table.get("width", 1280), int, "[browser].width"),
        height=expect(table.get("height", 800), int, "[browser].height"),
        args=[expect(a, str, "[browser].args[]") for a in args],
        screenshot_dir=expect(table.get("screenshot_dir", "screenshots"), str, "[browser].screenshot_dir"),
        snapshot_chars=expect(table.get("snapshot_chars", 12_000), int, "[browser].snapshot_chars"),
        idle_timeout=float(expect(table.get("idle_timeout", 900), (int, float), "[browser].idle_timeout")),
    )


def _find_chromium() -> str | None:
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


def _session(ctx: ToolContext, start: bool = True) -> BrowserSession | None:
    """The session's browser, started on first use."""
    with _starting:
        session = ctx.state.get(STATE_KEY)
        if session is not None and not session.closed:
            return session
        if not start:
            return None
        note = "the browser was closed after being idle; this is a fresh one" if session is not None else ""
        config = browser_settings(ctx.settings)
        try:
            import playwright.sync_api  # noqa: F401 - only to say clearly what is missing
        except ImportError as exc:
            raise ToolError(
                "The browser tools need the playwright package: ask the user to install ember-agent[browser] "
                "(pip install 'ember-agent[browser]'). A system Chromium is used; `playwright install` is not needed."
            ) from exc
        session = BrowserSession(config).start()
        if note:
            session.events.append(note)
        ctx.state[STATE_KEY] = session
        return session


def _run(ctx: ToolContext, job: Any) -> Any:
    session = _session(ctx)
    assert session is not None
    return session.call(job, ctx.cancel)


def _wait_for_error_page(page: Any) -> None:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_url(lambda url: url.startswith("chrome-error://"), timeout=SETTLE_MS)
    except PlaywrightTimeout:
        pass


def _snapshot(session: BrowserSession, note: str = "") -> str:
    from playwright.sync_api import Error as PlaywrightError

    try:
        data = session.page.evaluate(SNAPSHOT_JS, MAX_SNAPSHOT_ITEMS)
    except PlaywrightError as exc:  # the page navigated while being read (a script redirect): read the new one
        if "context was destroyed" not in str(exc):
            raise
        session.settle(SETTLE_MS)
        data = session.page.evaluate(SNAPSHOT_JS, MAX_SNAPSHOT_ITEMS)
    text = render_snapshot(data, session.config.snapshot_chars)
    events = [f"[{event}]" for event in session.take_events()]
    return "\n".join([*([note] if note else []), *events, text])


def _element(session: BrowserSession, ref: int) -> tuple[Any, dict[str, Any]]:
    """The element numbered ``ref`` in the current page, and a little about it."""
    locator = session.page.locator(f'[data-ember-ref="{int(ref)}"]')
    if locator.count() == 0:
        raise ToolError(f"No element [{ref}] on this page (numbers change with the page); call browser_snapshot.")
    info = locator.first.evaluate(
        "el => ({tag: el.tagName.toLowerCase(), type: el.type || '', text: (el.innerText || el.value || "
        "el.getAttribute('aria-label') || '').trim().slice(0, 80)})"
    )
    return locator.first, info


def _described(ref: int, info: dict[str, Any]) -> str:
    return f"[{ref}] {info['tag']}" + (f' "{info["text"]}"' if info["text"] else "")


@tool(toolset="browser", requires=REQUIRES)
def browser_open(ctx: ToolContext, url: str) -> str:
    """Open a URL in the browser and return a snapshot of the page with numbered elements.

    Args:
        url: The address to open (http, https or file); "example.com" means https://example.com.
    """
    url = url.strip()
    if "://" not in url and not url.startswith(("about:", "data:")):
        url = "https://" + url
    if not url.startswith(("http://", "https://", "file://", "about:", "data:")):
        raise ToolError(f"{url!r}: browser_open opens http(s) and file URLs.")

    def job(session: BrowserSession) -> str:
        from playwright.sync_api import Error as PlaywrightError

        for attempt in (1, 2):
            try:
                response = session.page.goto(url, wait_until="load")
                break
            except PlaywrightError as exc:
                # A failed load is followed by Chromium's own error page; an open that starts before it
                # arrives is "interrupted by another navigation" and deserves a second try.
                if attempt == 1 and "interrupted by another navigation" in str(exc):
                    continue
                _wait_for_error_page(session.page)
                raise
        session.settle(SETTLE_MS)
        status = f"HTTP {response.status}" if response is not None else "opened"
        return _snapshot(session, f"Opened {session.page.url} ({status}).")

    return _run(ctx, job)


@tool(toolset="browser", requires=REQUIRES)
def browser_snapshot(ctx: ToolContext) -> str:
    """The current page as text: headings, text, and numbered links, buttons and fields."""
    return _run(ctx, lambda session: _snapshot(session))


@tool(toolset="browser", requires=REQUIRES)
def browser_click(ctx: ToolContext, ref: int) -> str:
    """Click the element with this number; returns the page after the click.

    Args:
        ref: The element's number from the latest snapshot.
    """

    def job(session: BrowserSession) -> str:
        element, info = _element(session, ref)
        element.click()
        session.settle(SETTLE_MS)
        return _snapshot(session, f"Clicked {_described(ref, info)}.")

    return _run(ctx, job)


@tool(toolset="browser", requires=REQUIRES)
def browser_type(ctx: ToolContext, ref: int, text: str, submit: bool = False) -> str:
    """Replace the text of a field with `text`; with submit, press Enter afterwards (submits most forms).

    Args:
        ref: The field's number from the latest snapshot.
        text: The text to put in the field.
        submit: Press Enter after typing and return the resulting page.
    """

    def job(session: BrowserSession) -> str:
        element, info = _element(session, ref)
        if info["tag"] == "select":
            raise ToolError(f"[{ref}] is a select; use browser_select.")
        if info["type"] in ("checkbox", "radio", "submit", "button", "file"):
            raise ToolError(f"[{ref}] is a {info['type']} input; use browser_click.")
        element.fill(text)
        if not submit:
            return f"Typed {len(text)} characters into {_described(ref, {**info, 'text': ''})}."
        element.press("Enter")
        session.settle(SETTLE_MS)
        return _snapshot(session, f"Typed into [{ref}] and pressed Enter.")

    return _run(ctx, job)


@tool(toolset="browser", requires=REQUIRES)
def browser_select(ctx: ToolContext, ref: int, option: str) -> str:
    """Choose an option of a select (drop-down) by its visible text or value.

    Args:
        ref: The select's number from the latest snapshot.
        option: The option's text as shown in the snapshot, or its value.
    """

    def job(session: BrowserSession) -> str:
        element, info = _element(session, ref)
        if info["tag"] != "select":
            raise ToolError(f"[{ref}] is a {info['tag']}, not a select; use browser_click or browser_type.")
        options = element.evaluate("el => Array.from(el.options).map(o => [o.label || o.text, o.value])")
        wanted = option.strip().lower()
        match = next((o for o in options if wanted in (o[0].strip().lower(), o[1].strip().lower())), None)
        if match is None:
            shown = " | ".join(o[0] for o in options[:30])
            raise ToolError(f"[{ref}] has no option {option!r}; options: {shown}")
        element.select_option(value=match[1])
        return f'Selected "{match[0]}" in [{ref}].'

    return _run(ctx, job)


@tool(toolset="browser", requires=REQUIRES)
def browser_press(ctx: ToolContext, key: str) -> str:
    """Press a key or combination in the page, e.g. "Enter", "Escape", "Tab", "PageDown", "Control+A".

    Args:
        key: Key name as Playwright spells it; combine with "+".
    """

    def job(session: BrowserSession) -> str:
        session.page.keyboard.press(key)
        session.settle(SETTLE_MS)
        return _snapshot(session, f"Pressed {key}.")

    return _run(ctx, job)


@tool(toolset="browser", requires=REQUIRES)
def browser_scroll(ctx: ToolContext, direction: Literal["down", "up", "top", "bottom"] = "down") -> str:
    """Scroll the page (loads lazy content; moves what browser_screenshot shows).

    Args:
        direction: down or up by most of a screen, or to the top or bottom.
    """
    script = {
        "down": "window.scrollBy(0, window.innerHeight * 0.8)", "up": "window.scrollBy(0, -window.innerHeight * 0.8)",
        "top": "window.scrollTo(0, 0)", "bottom": "window.scrollTo(0, document.documentElement.scrollHeight)",
    }[direction]

    def job(session: BrowserSession) -> str:
        session.page.evaluate(script)
        session.settle(SETTLE_MS)
        where = session.page.evaluate(
            "[Math.round(window.scrollY), (document.scrollingElement || document.documentElement).scrollHeight,"
            " window.innerHeight]"
        )
        return f"Scrolled {direction}: showing {where[0]}-{where[0] + where[2]} of {where[1]} px."

    return _run(ctx, job)


@tool(toolset="browser", requires=REQUIRES)
def browser_back(ctx: ToolContext) -> str:
    """Go back to the previous page, like the browser's Back button."""

    def job(session: BrowserSession) -> str:
        before = session.page.url
        if session.page.go_back(wait_until="load") is None and session.page.url == before:
            raise ToolError("There is no previous page.")
        session.settle(SETTLE_MS)
        return _snapshot(session, "Went back.")

    return _run(ctx, job)


@tool(toolset="browser", requires=REQUIRES)
def browser_screenshot(ctx: ToolContext, full_page: bool = False) -> str:
    """Save a PNG screenshot of the page in the workspace and return its path.

    Args:
        full_page: Capture the whole page, not only the visible window.
    """
    config = browser_settings(ctx.settings)
    folder = ctx.resolve(config.screenshot_dir)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"browser-{time.strftime('%Y%m%d-%H%M%S')}-{time.monotonic_ns() % 1_000_000:06d}.png"

    def job(session: BrowserSession) -> tuple[str, str]:
        session.page.screenshot(path=str(target), full_page=full_page)
        return session.page.url, session.page.title()

    url, title = _run(ctx, job)
    width, height = _png_size(target.read_bytes()[:32])
    what = "whole page" if full_page else "visible window"
    return (f"Saved a screenshot of the {what} ({width}x{height}, {target.stat().st_size:,} bytes) to "
            f"{ctx.shown(target)}\nPage: {title or '(no title)'} - {url}")


def _png_size(header: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk."""
    return int.from_bytes(header[16:20], "big"), int.from_bytes(header[20:24], "big")


@tool(toolset="browser", requires=REQUIRES)
def browser_close(ctx: ToolContext) -> str:
    """Close the browser (a later browser_open starts a fresh one, without cookies or history)."""
    session = _session(ctx, start=False)
    if session is None:
        return "No browser was open."
    session.close()
    ctx.state.pop(STATE_KEY, None)
    return "Browser closed."
