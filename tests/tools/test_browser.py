"""The browser tools driving a real Chromium against real pages served on 127.0.0.1.

One browser serves the whole module (starting Chromium costs about a second). Needs the
playwright package and a system Chromium (CI installs both); skipped with the reason otherwise.
"""

from __future__ import annotations

import asyncio
import html
import json
import os
import socket
import sys
from pathlib import Path

import pytest

from ember.models.base import ToolCall
from ember.tools.browser import _find_chromium
from ember.tools.builtin import builtin_registry
from ember.tools.registry import ToolContext
from tests.fakes.search_apis import Answer, LocalSite

PAGES = Path(__file__).parent.parent / "fakes" / "pages"

if _find_chromium() is None and not os.environ.get("EMBER_BROWSER"):
    pytest.skip("no Chromium on this machine (apt-get install chromium)", allow_module_level=True)
pytest.importorskip("playwright.sync_api", reason="playwright is part of the browser extra")


def _thanks(hit) -> Answer:
    form = hit.form()
    return Answer(f"<html><head><title>Request received</title></head><body><h1>Thanks, "
                  f"{html.escape(form.get('name', ''))}</h1><p>We will write to {html.escape(form.get('email', ''))}.</p>"
                  "</body></html>")


@pytest.fixture(scope="module")
def site():
    with LocalSite() as server:
        server.page("/form", (PAGES / "form.html").read_bytes())
        server.page("/about", (PAGES / "about.html").read_bytes())
        server.route("POST", "/submit", _thanks)
        server.page("/search", '<title>Search</title><form action="/results"><input name="q" aria-label="Search">'
                               "</form>")
        server.route("GET", "/results", lambda hit: Answer(f"<title>Results</title><p>You searched {hit.arg('q')}</p>"))
        server.page("/alert", "<title>Alert</title><button onclick=\"alert('Saved!')\">Save</button>")
        yield server


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """run(name, **arguments) -> ToolResult, all calls sharing one session (one Chromium)."""
    ctx = ToolContext(workspace=tmp_path_factory.mktemp("browser-ws"))
    registry = builtin_registry(None, plugins=False)

    def run(name: str, **arguments):
        return registry.execute(ToolCall(id="1", name=name, arguments=arguments), ctx)

    run.ctx = ctx
    yield run
    run("browser_close")


def ref_of(snapshot: str, line_start: str) -> int:
    """The number of the element whose snapshot line starts (after its [n]) with ``line_start``."""
    for line in snapshot.splitlines():
        number, _, rest = line.partition("] ")
        if number[1:].isdigit() and rest.startswith(line_start):
            return int(line[1:line.index("]")])
    raise AssertionError(f"no element {line_start!r} in:\n{snapshot}")


def test_the_snapshot_numbers_what_the_model_can_act_on(browser, site):
    result = browser("browser_open", url=f"{site.url}/form")
    assert not result.is_error, result.content
    text = result.content
    assert "[page: untrusted web content" in text
    assert "Title: Contact the harbour office" in text and f"URL: {site.url}/form (scrolled to 0 of" in text
    assert "# Contact the harbour office\nBook a mooring or ask a question." in text
    assert ref_of(text, 'link "About the harbour" -> /about')
    assert ref_of(text, 'textbox "Your name" placeholder="Full name"')
    assert ref_of(text, 'textbox (email) "Email"')
    assert ref_of(text, 'select "Boat type" = "Sailing boat"; options: Sailing boat | Motor boat | Kayak')
    assert ref_of(text, 'checkbox "Send me the newsletter" [ ]')
    assert ref_of(text, 'textarea "Message"')
    assert ref_of(text, 'button "Send request"')
    assert "Hidden button" not in text and "form-123" not in text
    assert "End of the page." in text


def test_filling_and_submitting_a_form_reaches_the_server(browser, site):
    page = browser("browser_open", url=f"{site.url}/form").content
    assert "Typed 3 characters" in browser("browser_type", ref=ref_of(page, 'textbox "Your name"'), text="Ada").content
    browser("browser_type", ref=ref_of(page, 'textbox (email) "Email"'), text="ada@example.org")
    chosen = browser("browser_select", ref=ref_of(page, 'select "Boat type"'), option="Motor boat")
    assert chosen.content == f'Selected "Motor boat" in [{ref_of(page, "select")}].'
    browser("browser_click", ref=ref_of(page, 'checkbox "Send me the newsletter"'))
    browser("browser_type", ref=ref_of(page, 'textarea "Message"'), text="A mooring for May, please.")
    again = browser("browser_snapshot").content
    assert ref_of(again, 'checkbox "Send me the newsletter" [x]') == ref_of(page, "checkbox")  # numbers are stable
    assert 'value="Ada"' in again and 'select "Boat type" = "Motor boat"' in again

    result = browser("browser_click", ref=ref_of(page, 'button "Send request"'))
    assert not result.is_error, result.content
    assert site.requests_to("/submit")[-1].form() == {
        "name": "Ada", "email": "ada@example.org", "boat": "motor", "newsletter": "yes",
        "message": "A mooring for May, please.", "token": "form-123",
    }
    assert result.content.startswith('Clicked [') and "Title: Request received" in result.content
    assert "# Thanks, Ada\nWe will write to ada@example.org." in result.content


def test_typing_with_submit_presses_enter(browser, site):
    page = browser("browser_open", url=f"{site.url}/search").content
    result = browser("browser_type", ref=ref_of(page, 'textbox "Search"'), text="tide tables", submit=True)
    assert site.requests_to("/results")[-1].arg("q") == "tide tables"
    assert "You searched tide tables" in result.content


def test_clicking_runs_the_page_script_and_back_returns(browser, site):
    browser("browser_open", url=f"{site.url}/form")
    about = browser("browser_click", ref=ref_of(browser("browser_snapshot").content, 'link "About the harbour"'))
    assert "Title: About the harbour" in about.content
    shown = browser("browser_click", ref=ref_of(about.content, 'button "Show opening hours"'))
    assert "Opening hours: 8:00 to 18:00" in shown.content
    back = browser("browser_back")
    assert back.content.startswith("Went back.") and "Title: Contact the harbour office" in back.content


def test_dialogs_are_accepted_and_reported(browser, site):
    page = browser("browser_open", url=f"{site.url}/alert").content
    result = browser("browser_click", ref=ref_of(page, 'button "Save"'))
    assert '[a alert dialog said "Saved!" and was accepted]' in result.content


def test_scrolling_and_a_full_page_screenshot(browser, site):
    browser("browser_open", url=f"{site.url}/form")
    scrolled = browser("browser_scroll", direction="down")
    assert scrolled.content.startswith("Scrolled down: showing 640-1440 of ")
    result = browser("browser_screenshot", full_page=True)
    assert not result.is_error, result.content
    relative = result.content.split(" to ", 1)[1].splitlines()[0]
    assert relative.startswith("screenshots/browser-") and relative.endswith(".png")
    png = (browser.ctx.workspace / relative).read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(png) > 5000
    assert "(1280x" in result.content
    height = int(result.content.split("(1280x", 1)[1].split(",", 1)[0])
    assert height > 2400  # the whole page, not the 800 px window


def test_mistakes_come_back_as_errors_the_model_can_fix(browser, site):
    page = browser("browser_open", url=f"{site.url}/form").content
    missing = browser("browser_click", ref=999)
    assert missing.is_error and "No element [999] on this page" in missing.content
    wrong = browser("browser_select", ref=ref_of(page, 'textbox "Your name"'), option="x")
    assert wrong.is_error and "not a select" in wrong.content
    no_option = browser("browser_select", ref=ref_of(page, 'select "Boat type"'), option="Submarine")
    assert no_option.is_error and "options: Sailing boat | Motor boat | Kayak" in no_option.content
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    unreachable = browser("browser_open", url=f"http://127.0.0.1:{closed_port}/")
    assert unreachable.is_error and "ERR_CONNECTION_REFUSED" in unreachable.content


def test_it_works_from_inside_a_running_asyncio_loop(browser, site):
    async def from_a_coroutine():
        return browser("browser_open", url=f"{site.url}/about")

    result = asyncio.run(from_a_coroutine())
    assert not result.is_error, result.content
    assert "Title: About the harbour" in result.content


def test_close_stops_the_browser_and_removes_its_profile(tmp_path, site):
    ctx = ToolContext(workspace=tmp_path)
    registry = builtin_registry(None, plugins=False)
    run = lambda name, **args: registry.execute(ToolCall(id="1", name=name, arguments=args), ctx)  # noqa: E731
    assert run("browser_close").content == "No browser was open."
    assert not run("browser_open", url=f"{site.url}/about").is_error
    session = ctx.state["browser"]
    profile = Path(session._profile)
    assert profile.is_dir()
    assert run("browser_close").content == "Browser closed."
    assert not session._thread.is_alive() and not profile.exists()
    assert "browser" not in ctx.state


def test_setup_problems_say_what_to_install_or_set(tmp_path, monkeypatch):
    registry = builtin_registry(None, plugins=False)
    call = ToolCall(id="1", name="browser_open", arguments={"url": "about:blank"})
    monkeypatch.setenv("EMBER_BROWSER", str(tmp_path / "no-such-chromium"))
    bad_path = registry.execute(call, ToolContext(workspace=tmp_path))
    assert bad_path.is_error and "is not an executable file" in bad_path.content
    monkeypatch.delenv("EMBER_BROWSER")
    monkeypatch.setitem(sys.modules, "playwright.sync_api", None)
    no_playwright = registry.execute(call, ToolContext(workspace=tmp_path))
    assert no_playwright.is_error and "ember-agent[browser]" in no_playwright.content


def test_the_toolset_declares_exactly_its_tools():
    from ember.tools.builtin import BUILTIN_TOOLSETS

    declared = next(tools for name, _, _, tools in BUILTIN_TOOLSETS if name == "browser")
    assert [t.name for t in builtin_registry(None, plugins=False).tools_in("browser")] == list(declared)


def test_the_config_example_in_the_docs_is_valid(ember_home):
    import re
    import tomllib

    from ember.config import load_settings
    from ember.tools.browser import browser_settings

    doc = (Path(__file__).parents[2] / "docs" / "tools-browser.md").read_text()
    (block,) = re.findall(r"```toml\n(.*?)```", doc, re.S)
    table = tomllib.loads(block)["browser"]
    table["executable"] = _find_chromium() or os.environ["EMBER_BROWSER"]  # the doc's path may not exist here
    (ember_home / "config.toml").write_text(
        "[browser]\n" + "\n".join(f"{key} = {json.dumps(value)}" for key, value in table.items()) + "\n"
    )
    config = browser_settings(load_settings())
    assert config.args == ["--lang=en-US"] and config.snapshot_chars == 12000 and config.idle_timeout == 900


def test_an_idle_browser_closes_itself_and_the_next_call_starts_fresh(ember_home, tmp_path, site):
    import time

    from ember.config import load_settings

    (ember_home / "config.toml").write_text("[browser]\nidle_timeout = 0.5\n")
    ctx = ToolContext(workspace=tmp_path, settings=load_settings())
    registry = builtin_registry(None, plugins=False)
    run = lambda name, **args: registry.execute(ToolCall(id="1", name=name, arguments=args), ctx)  # noqa: E731
    assert not run("browser_open", url=f"{site.url}/about").is_error
    first = ctx.state["browser"]
    deadline = time.monotonic() + 10
    while first._thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert first.closed and not Path(first._profile).exists()
    again = run("browser_snapshot")
    assert "[the browser was closed after being idle; this is a fresh one]" in again.content
    assert "URL: about:blank" in again.content
    run("browser_close")
