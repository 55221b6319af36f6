"""`ember mcp serve`: the SDK's own client reads Ember's memory over stdio and HTTP."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import time

import pytest
from mcp import Client, StdioServerParameters
from mcp.shared.exceptions import MCPError

from ember.mcp.memory_access import front_matter, list_skills, read_skill, update_profile
from ember.memory.store import SQLiteStore
from ember.models.base import Message
from tests.e2e.conftest import EMBER

SECRET = "sk-live-0123456789abcdef"


@pytest.fixture
def home(ember_home):
    """A home with a conversation, a profile, two skills and a secret in .env."""
    (ember_home / ".env").write_text(f"SERVICE_KEY={SECRET}\n")
    with SQLiteStore(ember_home / "ember.db") as store:
        session = store.create_session(source="cli").id
        store.add_message(session, Message(role="user", content="My cat is called Pixel and loves tuna."))
        store.add_message(session, Message(role="user", content=f"the deploy key is {SECRET}, keep it"))
        store.add_message(session, Message(role="assistant", content="Noted: Pixel likes tuna."))
    (ember_home / "USER.md").write_text("# About me\n- prefers metric units\n")
    deploy = ember_home / "skills" / "deploy-site"
    deploy.mkdir(parents=True)
    (deploy / "SKILL.md").write_text(
        "---\nname: deploy-site\ndescription: >\n  Build and publish the site\n  with rsync.\n---\n# Deploy\n1. build\n"
    )
    plain = ember_home / "skills" / "notes"
    plain.mkdir()
    (plain / "SKILL.md").write_text("# Notes\nKeep notes short.\n")
    return ember_home


def run(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, 30))


def text_of(result) -> str:
    return "\n".join(block.text for block in result.content if block.type == "text")


def stdio_params(home, *extra: str) -> StdioServerParameters:
    env = {"EMBER_HOME": str(home), "PATH": os.environ["PATH"]}
    return StdioServerParameters(command=EMBER, args=["mcp", "serve", *extra], env=env)


def test_stdio_serves_memory_profile_and_skills_read_only(home):
    async def session():
        async with Client(stdio_params(home)) as client:
            assert client.server_info.name == "ember"
            tools = {t.name for t in (await client.list_tools()).tools}
            found = text_of(await client.call_tool("memory_search", {"query": "Pixel tuna"}))
            leaked = text_of(await client.call_tool("memory_search", {"query": "deploy key"}))
            profile = text_of(await client.call_tool("user_profile", {}))
            skills = text_of(await client.call_tool("skills_list", {}))
            skill = text_of(await client.call_tool("skill_view", {"name": "deploy-site"}))
            unknown = await client.call_tool("skill_view", {"name": "nope"})
            resources = {str(r.uri) for r in (await client.list_resources()).resources}
            read = await client.read_resource("ember://skills/notes")
            return tools, found, leaked, profile, skills, skill, unknown, resources, read

    tools, found, leaked, profile, skills, skill, unknown, resources, read = run(session())
    assert tools == {"memory_search", "user_profile", "skills_list", "skill_view"}  # no writes by default
    assert "**Pixel**" in found and "session " in found
    assert SECRET not in leaked and "[REDACTED]" in leaked
    assert "prefers metric units" in profile
    assert "deploy-site: Build and publish the site with rsync." in skills and "notes: Keep notes short." in skills
    assert skill.startswith("---\nname: deploy-site")
    assert unknown.is_error and "no skill named 'nope'" in text_of(unknown)
    assert {"ember://user-profile", "ember://skills"} <= resources
    assert read.contents[0].text.startswith("# Notes")


def test_writes_only_with_allow_writes(home):
    async def session():
        async with Client(stdio_params(home, "--allow-writes")) as client:
            tools = {t.name for t in (await client.list_tools()).tools}
            result = await client.call_tool("user_profile_update", {"text": "has a cat named Pixel"})
            return tools, result

    tools, result = run(session())
    assert "user_profile_update" in tools and not result.is_error
    assert (home / "USER.md").read_text() == "# About me\n- prefers metric units\n- has a cat named Pixel\n"


@pytest.fixture
def http_serve(home):
    processes = []

    def start(*extra: str, env_extra: dict | None = None) -> str:
        env = {**os.environ, "EMBER_HOME": str(home), **(env_extra or {})}
        process = subprocess.Popen([EMBER, "mcp", "serve", "--http", "0", *extra], env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        processes.append(process)
        line = process.stderr.readline()
        match = re.search(r"(http://\S+/mcp)", line)
        assert match, line + process.stderr.read()
        return match.group(1)

    yield start
    for process in processes:
        process.terminate()
        process.wait(timeout=10)


def test_http_serves_the_same_memory(http_serve):
    url = http_serve()

    async def session():
        async with Client(url) as client:
            return text_of(await client.call_tool("memory_search", {"query": "tuna", "limit": 1}))

    found = run(session())
    assert found.count("\n") == 0 and "tuna" in found


def test_http_requires_the_token_when_one_is_set(http_serve, home):
    url = http_serve(env_extra={"EMBER_MCP_TOKEN": "serve-token-987654"})

    async def refused():
        async with Client(url) as client:
            await client.list_tools()

    with pytest.raises((MCPError, ExceptionGroup)):
        run(refused())

    async def allowed():
        import httpx2
        from mcp.client.streamable_http import streamable_http_client

        async with httpx2.AsyncClient(headers={"Authorization": "Bearer serve-token-987654"}) as http:
            async with Client(streamable_http_client(url, http_client=http)) as client:
                return {t.name for t in (await client.list_tools()).tools}

    assert "memory_search" in run(allowed())


def test_ember_as_its_own_mcp_client(configure, home, tmp_path):
    """Another Ember (or any client) configured with `ember mcp serve` shares this memory."""
    from ember.models.base import ToolCall
    from ember.tools.base import ToolContext
    from ember.tools.builtin import builtin_registry

    settings = configure(shared={"command": EMBER, "args": ["mcp", "serve"], "env": {"EMBER_HOME": str(home)}})
    registry = builtin_registry(settings)
    started = time.monotonic()
    result = registry.execute(
        ToolCall(id="1", name="shared__memory_search", arguments={"query": "Pixel"}), ToolContext(workspace=tmp_path)
    )
    assert not result.is_error and "Pixel" in result.content, result.content
    assert time.monotonic() - started < 20


def test_skill_front_matter_is_read_robustly(tmp_path):
    assert front_matter('---\nname: "x"\ndescription: one line\n---\nbody') == {"name": "x", "description": "one line"}
    assert front_matter("---\ndescription: |\n  first\n  second\nother: [a, b]\n---\n") == {
        "description": "first second", "other": "[a, b]"}
    assert front_matter("no front matter") == {} and front_matter("---\nunclosed: yes") == {"unclosed": "yes"}
    broken = tmp_path / "skills" / "bad"
    broken.mkdir(parents=True)
    (broken / "SKILL.md").write_bytes(b"\xff\xfe not utf-8")
    assert list_skills(tmp_path) == []
    with pytest.raises(ValueError, match="not a skill name"):
        read_skill(tmp_path, "../../etc/passwd")


def test_profile_updates_are_bounded(tmp_path):
    update_profile(tmp_path, "likes tea")
    assert (tmp_path / "USER.md").read_text() == "- likes tea\n"
    with pytest.raises(ValueError, match="exceed"):
        update_profile(tmp_path, "x" * 30_000)
    update_profile(tmp_path, "# Fresh start", replace=True)
    assert (tmp_path / "USER.md").read_text() == "# Fresh start\n"
