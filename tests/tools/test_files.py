"""The core file tools, on real files in a temporary workspace."""

from __future__ import annotations

from ember.models.base import ToolCall
from ember.security.approval import Approver
from ember.tools.registry import ToolContext


def test_read_file_numbers_lines_and_pages(registry, workspace):
    (workspace / "notes.txt").write_text("".join(f"line {i}\n" for i in range(1, 5001)))
    ctx = ToolContext(workspace=workspace, max_output_chars=100_000)

    def run(name, **arguments):
        return registry.execute(ToolCall("1", name, arguments), ctx)

    first = run("read_file", path="notes.txt").content
    assert first.splitlines()[0] == "     1\tline 1"
    assert "  2000\tline 2000" in first and "line 2001" not in first
    assert first.endswith("[showing lines 1-2000 of 5,000; call read_file with offset=2000 to continue]")
    page = run("read_file", path="notes.txt", offset=4998, limit=10).content
    assert page == "  4999\tline 4999\n  5000\tline 5000"


def test_read_file_respects_the_output_budget(workspace, registry):
    (workspace / "wide.txt").write_text("".join(f"{'x' * 90} {i}\n" for i in range(200)))
    ctx = ToolContext(workspace=workspace, max_output_chars=2000)
    out = registry.execute(ToolCall("1", "read_file", {"path": "wide.txt"}), ctx).content
    assert len(out) <= 2000
    assert "call read_file with offset=" in out and "of 200" in out


def test_read_file_huge_line_and_edge_cases(run, workspace):
    (workspace / "long.txt").write_text("a" * 5000 + "\nshort\n")
    out = run("read_file", path="long.txt").content
    assert "[3,000 more chars on this line]" in out and "short" in out
    (workspace / "empty.txt").write_text("")
    assert run("read_file", path="empty.txt").content == "(empty.txt is empty)"
    past = run("read_file", path="long.txt", offset=10)
    assert past.is_error and "past the end" in past.content


def test_read_file_refuses_binary_and_helps_with_missing(run, workspace):
    (workspace / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    binary = run("read_file", path="image.png")
    assert binary.is_error and "binary file" in binary.content and "shell" in binary.content
    (workspace / "report.md").write_text("x")
    missing = run("read_file", path="reprot.md")
    assert missing.is_error and "No such file: reprot.md" in missing.content and "report.md" in missing.content
    (workspace / "folder").mkdir()
    assert "is a directory" in run("read_file", path="folder").content


def test_read_file_outside_workspace_and_home(run, tmp_path, monkeypatch):
    (tmp_path / "outside.txt").write_text("visible\n")
    assert "visible" in run("read_file", path=str(tmp_path / "outside.txt")).content
    monkeypatch.setenv("HOME", str(tmp_path))
    assert "visible" in run("read_file", path="~/outside.txt").content


def test_write_file_creates_folders_and_reports(run, workspace):
    created = run("write_file", path="deep/down/a.txt", content="one\ntwo\n")
    assert created.content == "Created deep/down/a.txt (8 bytes, 2 lines)."
    assert (workspace / "deep/down/a.txt").read_text() == "one\ntwo\n"
    assert run("write_file", path="deep/down/a.txt", content="x").content.startswith("Overwrote")


def test_write_outside_workspace_needs_approval(registry, workspace, tmp_path):
    target = tmp_path / "elsewhere" / "x.txt"
    call = ToolCall("1", "write_file", {"path": str(target), "content": "hi"})
    denied = registry.execute(call, ToolContext(workspace=workspace, approver=Approver("deny")))
    assert denied.is_error and "writes outside the workspace" in denied.content
    assert not target.exists()
    approved = registry.execute(call, ToolContext(workspace=workspace, approver=Approver("auto")))
    assert not approved.is_error and target.read_text() == "hi"


def test_edit_file_unique_replace(run, workspace):
    path = workspace / "code.py"
    path.write_text("def a():\n    return 1\n\ndef b():\n    return 1\n")
    result = run("edit_file", path="code.py", old="def b():\n    return 1", new="def b():\n    return 2")
    assert result.content == "Replaced 1 occurrence(s) in code.py (first at line 4)."
    assert path.read_text().endswith("return 2\n")


def test_edit_file_not_unique_says_where(run, workspace):
    path = workspace / "code.py"
    path.write_text("x = 1\ny = 2\nx = 1\n")
    result = run("edit_file", path="code.py", old="x = 1", new="x = 3")
    assert result.is_error
    assert "old matches 2 places in code.py (lines 1, 3)" in result.content
    assert "more surrounding lines" in result.content and "replace_all" in result.content
    assert path.read_text() == "x = 1\ny = 2\nx = 1\n"
    assert "Replaced 2" in run("edit_file", path="code.py", old="x = 1", new="x = 3", replace_all=True).content
    assert path.read_text() == "x = 3\ny = 2\nx = 3\n"


def test_edit_file_not_found_hints(run, workspace):
    (workspace / "code.py").write_text("def f():\n    return compute(1)\n")
    indented = run("edit_file", path="code.py", old="def f():\nreturn compute(1)", new="")
    assert indented.is_error and "differs only in whitespace" in indented.content and "line 1" in indented.content
    close = run("edit_file", path="code.py", old="return compute(2)", new="")
    assert "closest line is 2" in close.content
    assert "old is empty" in run("edit_file", path="code.py", old="", new="x").content


def test_edit_file_keeps_crlf(run, workspace):
    path = workspace / "win.txt"
    path.write_bytes(b"one\r\ntwo\r\nthree\r\n")
    assert not run("edit_file", path="win.txt", old="one\ntwo", new="1\n2").is_error
    assert path.read_bytes() == b"1\r\n2\r\nthree\r\n"


def test_list_dir(run, workspace):
    (workspace / "src" / "pkg").mkdir(parents=True)
    (workspace / "src" / "pkg" / "mod.py").write_text("x" * 2048)
    (workspace / "README.md").write_text("hi")
    (workspace / ".hidden").write_text("")
    (workspace / "node_modules" / "dep").mkdir(parents=True)
    out = run("list_dir").content.splitlines()
    assert out == ["./", "  node_modules/", "  src/", "  README.md  2 B"]
    deep = run("list_dir", path=".", depth=3, hidden=True).content
    assert "      mod.py  2.0 KB" in deep and ".hidden" in deep
    assert "node_modules/ (not expanded)" in deep and "dep" not in deep
    for i in range(30):
        (workspace / f"f{i:02}.txt").write_text("")
    capped = run("list_dir", limit=10).content
    assert "more entries not shown" in capped and len(capped.splitlines()) == 12
    assert run("list_dir", path="README.md").is_error


def test_search_files_by_name_and_content(run, workspace):
    (workspace / "src" / "app").mkdir(parents=True)
    (workspace / "src" / "app" / "main.py").write_text("import os\n\ndef Main():\n    pass\n")
    (workspace / "src" / "util.py").write_text("def helper(x):\n    return x\n")
    (workspace / "notes.txt").write_text("def not python\n")
    (workspace / "blob.py").write_bytes(b"def \x00binary")
    (workspace / ".git").mkdir()
    (workspace / ".git" / "config.py").write_text("def hidden\n")

    files = run("search_files", pattern="*.py").content.splitlines()
    assert files == ["blob.py", "src/util.py", "src/app/main.py"]
    assert run("search_files", pattern="src/**/*.py").content.splitlines() == ["src/util.py", "src/app/main.py"]
    hits = run("search_files", pattern="*.py", content=r"def \w+\(").content.splitlines()
    assert hits == ["src/util.py:1: def helper(x):", "src/app/main.py:3: def Main():"]
    assert run("search_files", pattern="*", content="helper(").content == "src/util.py:1: def helper(x):"
    assert "main.py:3" in run("search_files", pattern="*.py", content="def main", ignore_case=True).content
    none = run("search_files", pattern="*.rs")
    assert not none.is_error and none.content.startswith("No files matching '*.rs'")


def test_search_files_limit(run, workspace):
    (workspace / "many.txt").write_text("hit\n" * 50)
    out = run("search_files", pattern="*.txt", content="hit", limit=5).content.splitlines()
    assert out[:5] == [f"many.txt:{i}: hit" for i in range(1, 6)]
    assert out[5].startswith("[more results not shown (limit=5)")
