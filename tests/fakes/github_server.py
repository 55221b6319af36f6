"""A fake GitHub REST API: a repository's issues, in GitHub's own shapes, on 127.0.0.1.

``GET /repos/{owner}/{repo}/issues`` answers like api.github.com: open issues by default
(``state=open|closed|all``), newest first (``sort=created|updated``, ``direction=desc|asc``),
``since`` (ISO 8601) keeping what was *updated* at or after it, ``per_page`` (default 30, at most
100) and ``page`` with a ``Link`` header (``rel="next"``, ``"last"``, ``"first"``, ``"prev"``).
Pull requests are listed too, marked with a ``pull_request`` object, as GitHub does.
``GET /repos/{owner}/{repo}/issues/{number}`` returns one. The repository is private: a request
without the token gets 404 (GitHub hides private repositories), a wrong token 401 "Bad
credentials"; ``Authorization: Bearer TOKEN`` and ``token TOKEN`` both work. Every answer carries
the ``x-ratelimit-*`` and ``x-github-api-version-selected`` headers.

    with FakeGitHub(token="ghp_...") as github:            # github.api_base: http://127.0.0.1:PORT
        github.add_issue(12, "Typo in the README", created="2026-05-01T08:00:00Z", labels=["docs"])
        github.add_issue(13, "Bump deps", created=..., pull_request=True)
        github.update_issue(12, "2026-05-01T15:00:00Z")    # a comment or a label: updated_at moves
        github.requests                                     # every request: method, path, query, headers
        github.issue_requests()                             # the list requests, their query parameters
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

__all__ = ["FakeGitHub", "GitHubRequest"]

DOCS = "https://docs.github.com/rest/issues/issues#list-repository-issues"


@dataclass
class GitHubRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str] = field(repr=False)


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class FakeGitHub:
    def __init__(self, owner: str = "acme", repo: str = "widgets", token: str = "ghp_fakeTokenForTests0123456789abcdEFGH",
                 login: str = "octocat") -> None:
        self.owner, self.repo, self.token, self.login = owner, repo, token, login
        self.issues: dict[int, dict[str, Any]] = {}
        self.requests: list[GitHubRequest] = []
        self.lock = threading.Lock()
        self._ids = 1_000_000

    # --- lifecycle --------------------------------------------------------------------------------

    def __enter__(self) -> FakeGitHub:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.fake = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self._server.server_address[1]}"

    # --- the repository ---------------------------------------------------------------------------

    def add_issue(self, number: int, title: str, *, created: str, body: str = "", labels: list[str] | None = None,
                  author: str = "reporter", pull_request: bool = False, state: str = "open") -> dict[str, Any]:
        """An issue (or, with ``pull_request``, a pull request) as GitHub returns it."""
        base = f"{self.api_base}/repos/{self.owner}/{self.repo}"
        html = f"https://github.com/{self.owner}/{self.repo}"
        with self.lock:
            self._ids += 1
            issue: dict[str, Any] = {
                "url": f"{base}/issues/{number}", "repository_url": base,
                "labels_url": f"{base}/issues/{number}/labels{{/name}}",
                "comments_url": f"{base}/issues/{number}/comments", "events_url": f"{base}/issues/{number}/events",
                "html_url": f"{html}/{'pull' if pull_request else 'issues'}/{number}",
                "id": self._ids, "node_id": f"I_kwDOfake{self._ids}", "number": number, "title": title,
                "user": {"login": author, "id": 4000 + number, "node_id": f"U_fake{number}", "type": "User",
                         "site_admin": False, "html_url": f"https://github.com/{author}"},
                "labels": [{"id": 700 + i, "node_id": f"LA_fake{i}", "url": f"{base}/labels/{name}", "name": name,
                            "color": "d73a4a", "default": False, "description": None}
                           for i, name in enumerate(labels or [])],
                "state": state, "locked": False, "assignee": None, "assignees": [], "milestone": None,
                "comments": 0, "created_at": created, "updated_at": created,
                "closed_at": created if state == "closed" else None, "author_association": "NONE",
                "active_lock_reason": None, "body": body or None, "state_reason": None,
                "reactions": {"url": f"{base}/issues/{number}/reactions", "total_count": 0},
                "timeline_url": f"{base}/issues/{number}/timeline", "performed_via_github_app": None,
            }
            if pull_request:
                issue["draft"] = False
                issue["pull_request"] = {"url": f"{base}/pulls/{number}", "html_url": f"{html}/pull/{number}",
                                         "diff_url": f"{html}/pull/{number}.diff",
                                         "patch_url": f"{html}/pull/{number}.patch", "merged_at": None}
            self.issues[number] = issue
        return issue

    def update_issue(self, number: int, when: str, comments: int = 1) -> None:
        """Someone commented (or labelled it): ``updated_at`` moves, which is what ``since`` looks at."""
        with self.lock:
            self.issues[number]["updated_at"] = when
            self.issues[number]["comments"] += comments

    def issue_requests(self) -> list[dict[str, str]]:
        """The query parameters of each request for the list of issues, in order."""
        path = f"/repos/{self.owner}/{self.repo}/issues"
        with self.lock:
            return [r.query for r in self.requests if r.path == path]

    # --- answering --------------------------------------------------------------------------------

    def answer(self, method: str, target: str, headers: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        parts = urlsplit(target)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        with self.lock:
            self.requests.append(GitHubRequest(method, parts.path, query, headers))
        auth = headers.get("authorization", "")
        if auth:
            scheme, _, value = auth.partition(" ")
            if scheme.lower() not in ("bearer", "token") or value.strip() != self.token:
                return 401, {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest",
                             "status": "401"}, {}
        repo_path = f"/repos/{self.owner}/{self.repo}"
        if not auth or not parts.path.startswith(repo_path + "/issues") or method != "GET":
            return 404, {"message": "Not Found", "documentation_url": DOCS, "status": "404"}, {}
        rest = parts.path[len(repo_path + "/issues"):].strip("/")
        if rest:
            with self.lock:
                issue = self.issues.get(int(rest)) if rest.isdigit() else None
            if issue is None:
                return 404, {"message": "Not Found", "documentation_url": DOCS, "status": "404"}, {}
            return 200, issue, {}
        return self._list(parts.path, query)

    def _list(self, path: str, query: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        try:
            per_page = min(max(int(query.get("per_page", 30)), 1), 100)
            page = max(int(query.get("page", 1)), 1)
            since = _parse_time(query["since"]) if "since" in query else None
        except ValueError as exc:
            return 422, {"message": f"Validation Failed: {exc}", "documentation_url": DOCS, "status": "422"}, {}
        state = query.get("state", "open")
        key = "updated_at" if query.get("sort") == "updated" else "created_at"
        with self.lock:
            found = [dict(i) for i in self.issues.values()
                     if (state == "all" or i["state"] == state)
                     and (since is None or _parse_time(i["updated_at"]) >= since)]
        found.sort(key=lambda i: (i[key], i["number"]), reverse=query.get("direction", "desc") != "asc")
        last = max((len(found) + per_page - 1) // per_page, 1)
        links = []

        def link(number: int, rel: str) -> str:
            return f'<{self.api_base}{path}?{urlencode({**query, "page": number})}>; rel="{rel}"'

        if page > 1:
            links += [link(page - 1, "prev"), link(1, "first")]
        if page < last:
            links += [link(page + 1, "next"), link(last, "last")]
        headers = {"Link": ", ".join(links)} if links else {}
        return 200, found[(page - 1) * per_page: page * per_page], headers


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        fake: FakeGitHub = self.server.fake  # type: ignore[attr-defined]
        length = int(self.headers.get("content-length") or 0)
        if length:
            self.rfile.read(length)
        headers = {k.lower(): v for k, v in self.headers.items()}
        status, payload, extra = fake.answer(self.command, self.path, headers)
        body = json.dumps(payload, indent=2).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-GitHub-Api-Version-Selected", "2022-11-28")
        self.send_header("X-RateLimit-Limit", "5000")
        self.send_header("X-RateLimit-Remaining", str(5000 - len(fake.requests)))
        self.send_header("X-RateLimit-Used", str(len(fake.requests)))
        self.send_header("X-RateLimit-Resource", "core")
        for name, value in extra.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)
