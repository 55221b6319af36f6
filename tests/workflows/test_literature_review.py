"""Workflow 2: a literature review that remembers, over several `ember run` sessions.

The papers are an HTML page and a PDF on a local web site. The agent reads the page with the real
`web_extract`, downloads the PDF with `shell` (curl, in the sandbox) and reads it with
`read_pdf`. The fake model writes each summary in the format it finds in USER.md (a preference
the user stated in an earlier session and Ember learned), looks in memory (`memory_search`) before
fetching a paper, and answers later questions from what memory returns: it knows nothing of the
papers except what the tools gave it in that very turn.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.fakes.openai_server import FakeOpenAI, Reply
from tests.fakes.papers_server import PapersServer
from tests.learning.scenarios import LearningModel, call
from tests.workflows.conftest import (
    MODEL_TOML,
    cli_json,
    is_agent_request,
    last_user,
    section,
    system_of,
    tool_results,
)

PREFERENCE = "I prefer paper summaries as: Title, Claim, Evidence, Limits."
SUMMARISE = "Summarise the paper at {} (if you read it before, take it from your memory)"
SPARSE = ["Claim: sparse attention matches dense attention on 32k-token documents.",
          "Evidence: LongBench score 71.2 with sparse attention against 71.0 dense, using 60% less memory.",
          "Limits: English text only; one model family.",
          "Related work on attention is vast; we refer to the survey for a full account of its history."]
DENSE = ["Dense Baselines Revisited",
         "Claim: sparse attention loses accuracy on 32k-token documents.",
         "Evidence: LongBench score 66.8 with sparse attention against 71.0 dense, same memory budget.",
         "Limits: a single model size."]


END = r"\.(?=\s|$)"  # the end of a sentence (not the point of 71.2)


class ReviewModel(LearningModel):
    """Summarises papers in the user's format, looking in memory first; compares claims it is given."""

    def agent(self, request: dict[str, Any], system: str) -> Reply:
        message, results = last_user(request), tool_results(request)
        if message.startswith("I prefer"):
            return Reply(text="Noted.")
        paper = re.search(r"Summari[sz]e the paper at (\S+)", message)
        if paper:
            return self.summarise(paper.group(1), system, results)
        if "contradict" in message:
            if not results:
                return call("memory_search", query="Summary of paper Claim", k=10)
            claims = dict(re.findall(rf"Title: (.+?) Claim: (.+?{END})", results[0]))
            lines = [f"- {title} says: {claim}" for title, claim in sorted(claims.items())]
            return Reply(text="Where they contradict each other:\n" + "\n".join(lines))
        if "read so far" in message:
            topic = message.split("about", 1)[1].split("?")[0].strip()
            if not results:
                return call("memory_search", query=topic)
            found = dict(re.findall(rf"Title: (.+?) Claim: .*?Evidence: (.+?{END})", results[0]))
            return Reply(text="From your reading: " + " ".join(f"{e} ({title})" for title, e in found.items()))
        return Reply(text="OK.")

    def summarise(self, url: str, system: str, results: list[str]) -> Reply:
        if not results:  # read before? look in memory first
            return call("memory_search", query=url)
        earlier = re.search(rf"\[([^\]]*)\] Summary of {re.escape(url)}:(.*)", results[0])
        if earlier:
            return Reply(text=f"I read it already ({earlier.group(1)}):{earlier.group(2)}")
        name = url.rsplit("/", 1)[1]
        if url.endswith(".pdf"):
            if len(results) == 1:
                return call("shell", command=f"mkdir -p papers && curl -sSfL -o papers/{name} {url}")
            if len(results) == 2:
                return call("read_pdf", path=f"papers/{name}")
        elif len(results) == 1:
            return call("web_extract", url=url)
        text = results[-1]
        title = re.search(r"^Title: (.+)$|--- page 1 ---\n(.+)", text, re.M)
        fields = {"Title": next(g for g in title.groups() if g)} if title else {}
        fields.update(re.findall(r"^(\w+): (.+)$", text, re.M))
        wanted = re.search(r"summaries as: ([\w ,]+)", section(system, "User profile"))
        if wanted is None:  # no format preference: a plain paragraph
            return Reply(text=f"Summary of {url}: " + " ".join(fields.values()))
        names = [name.strip() for name in wanted.group(1).split(",")]
        return Reply(text=f"Summary of {url}:\n" + "\n".join(f"{n}: {fields.get(n, '(not stated)')}" for n in names))


@pytest.fixture
def setup(ember):
    with PapersServer() as site, FakeOpenAI(responder=ReviewModel()) as model:
        ember.config(MODEL_TOML.format(base_url=model.base_url))
        ember.env["EMBER_EMBEDDINGS"] = "off"
        yield site, model


def run(ember, text: str) -> dict[str, Any]:
    return cli_json(ember, "run", "--json", text)


def agent_calls(model: FakeOpenAI, since: int) -> list[dict[str, Any]]:
    return [r for r in model.requests[since:] if is_agent_request(r)]


def test_papers_are_summarised_in_the_users_format_remembered_and_compared(ember, setup):
    pytest.importorskip("pypdf", reason="read_pdf needs the pdf extra")
    pytest.importorskip("trafilatura", reason="web_extract needs the web extra")
    site, model = setup
    sparse = site.add_html("sparse-attention", "Sparse Attention at Scale", SPARSE)
    dense = site.add_pdf("dense-baseline", DENSE)

    # An earlier session: the user states how they like summaries; Ember keeps it in USER.md.
    run(ember, PREFERENCE)
    assert "I prefer paper summaries as: Title, Claim, Evidence, Limits" in (ember.home / "USER.md").read_text()

    # A web page, then a PDF, each in a session of its own, each in the user's format.
    start = len(model.requests)
    first = run(ember, SUMMARISE.format(sparse))
    assert [c["name"] for c in first["tool_calls"]] == ["memory_search", "web_extract"]
    assert first["answer"] == (f"Summary of {sparse}:\nTitle: Sparse Attention at Scale\n"
                               f"Claim: {SPARSE[0][7:]}\nEvidence: {SPARSE[1][10:]}\nLimits: {SPARSE[2][8:]}")
    assert PREFERENCE[:-1] in section(system_of(agent_calls(model, start)[0]), "User profile")
    second = run(ember, SUMMARISE.format(dense))
    assert [c["name"] for c in second["tool_calls"]] == ["memory_search", "shell", "read_pdf"]
    assert second["answer"].splitlines() == [f"Summary of {dense}:", "Title: Dense Baselines Revisited",
                                             *DENSE[1:]]
    assert (ember.workspace / "papers" / "dense-baseline.pdf").read_bytes()[:5] == b"%PDF-"
    assert site.hits("sparse-attention.html") == 1 and site.hits("dense-baseline.pdf") == 1

    # Asked again later: found in memory, not fetched again.
    again = run(ember, SUMMARISE.format(sparse))
    assert [c["name"] for c in again["tool_calls"]] == ["memory_search"]
    assert again["answer"].startswith("I read it already") and "Claim: sparse attention matches" in again["answer"]
    assert site.hits("sparse-attention.html") == 1

    # A related topic in a later session brings back an earlier finding.
    related = run(ember, "What have I read so far about the memory use of long-context attention?")
    assert "using 60% less memory. (Sparse Attention at Scale)" in related["answer"]

    # The contradictions between the two papers, from what was read.
    compared = run(ember, "Where do the two papers I read contradict each other?")
    assert "Sparse Attention at Scale says: sparse attention matches dense attention" in compared["answer"]
    assert "Dense Baselines Revisited says: sparse attention loses accuracy" in compared["answer"]
    assert site.hits("sparse-attention.html") == 1 and site.hits("dense-baseline.pdf") == 1
    assert len({r["session_id"] for r in (first, second, again, related, compared)}) == 5  # five sessions
