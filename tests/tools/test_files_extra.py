"""The files toolset through the real registry: patches, moves, deletes, PDFs and image headers."""

from __future__ import annotations

import difflib
import struct

import pytest

from ember.models.base import ToolCall
from ember.security.approval import Approver
from ember.tools.builtin import builtin_registry
from ember.tools.media import image_header
from ember.tools.registry import ToolContext, ToolResult
from tests.fakes.images_server import png_bytes
from tests.fakes.papers_server import pdf_bytes


@pytest.fixture
def call(workspace):
    """call(name, approver=None, **arguments) -> ToolResult; approvals are refused unless an approver says yes."""
    registry = builtin_registry(plugins=False)

    def _call(name: str, approver: Approver | None = None, approvals=None, **arguments) -> ToolResult:
        ctx = ToolContext(workspace=workspace, approver=approver or Approver("deny", workspace=workspace),
                          approvals=approvals)
        return registry.execute(ToolCall(id="c1", name=name, arguments=arguments), ctx)

    return _call


def unified(old: str, new: str, path: str) -> str:
    return "".join(difflib.unified_diff(old.splitlines(True), new.splitlines(True), f"a/{path}", f"b/{path}"))


# --- apply_patch ------------------------------------------------------------------------------------

ORIGINAL = "".join(f"line {n}\n" for n in range(1, 41))


def test_patch_applies_several_hunks_and_files(call, workspace):
    (workspace / "src").mkdir()
    (workspace / "src/app.txt").write_text(ORIGINAL)
    (workspace / "notes.txt").write_text("alpha\nbeta\n")
    changed = ORIGINAL.replace("line 3\n", "line three\n").replace("line 30\n", "line 30\nline 30b\n")
    patch = "diff --git a/src/app.txt b/src/app.txt\nindex 1111..2222 100644\n" + unified(
        ORIGINAL, changed, "src/app.txt") + unified("alpha\nbeta\n", "alpha\nBETA\n", "notes.txt")
    result = call("apply_patch", patch=patch)
    assert not result.is_error, result.content
    assert (workspace / "src/app.txt").read_text() == changed
    assert (workspace / "notes.txt").read_text() == "alpha\nBETA\n"
    assert "Patched 2 file(s)" in result.content and "2 hunk(s), +1 lines" in result.content


def test_patch_with_wrong_line_numbers_and_counts_still_applies(call, workspace):
    (workspace / "app.txt").write_text(ORIGINAL)
    patch = (
        "--- app.txt\n+++ app.txt\n"
        "@@ -1,2 +1,2 @@\n"          # counts too small: the model miscounted
        " line 20\n-line 21\n+line 21 changed\n line 22\n"
    )
    result = call("apply_patch", patch=patch)
    assert not result.is_error, result.content
    assert "line 20\nline 21 changed\nline 22\n" in (workspace / "app.txt").read_text()
    assert "applied at line 20" in result.content


def test_patch_that_does_not_fit_changes_nothing_and_says_where(call, workspace):
    (workspace / "a.txt").write_text("one\ntwo\n")
    (workspace / "b.txt").write_text(ORIGINAL)
    patch = unified("one\ntwo\n", "one\n2\n", "a.txt") + (
        "--- a/b.txt\n+++ b/b.txt\n@@ -10,3 +10,3 @@\n line 10\n-line 11 is not here\n+x\n line 12\n"
    )
    result = call("apply_patch", patch=patch)
    assert result.is_error
    assert "Hunk 1 of b.txt" in result.content and "does not apply" in result.content
    assert "line 11" in result.content and "'line 11 is not here'" in result.content
    assert "No file was changed" in result.content
    assert (workspace / "a.txt").read_text() == "one\ntwo\n"  # the hunk that fitted was not written either


def test_patch_creates_and_deletes_files(call, workspace):
    (workspace / "old.txt").write_text("bye\n")
    patch = (
        "--- /dev/null\n+++ b/new/hello.txt\n@@ -0,0 +1,2 @@\n+hello\n+world\n"
        "--- a/old.txt\n+++ /dev/null\n@@ -1 +0,0 @@\n-bye\n"
    )
    result = call("apply_patch", patch=patch)
    assert not result.is_error, result.content
    assert (workspace / "new/hello.txt").read_text() == "hello\nworld\n"
    assert not (workspace / "old.txt").exists()
    again = call("apply_patch", patch="--- /dev/null\n+++ b/new/hello.txt\n@@ -0,0 +1 @@\n+x\n")
    assert again.is_error and "already exists" in again.content


def test_patch_keeps_crlf_and_a_missing_final_newline(call, workspace):
    (workspace / "win.txt").write_bytes(b"a\r\nb\r\nc\r\n")
    (workspace / "tail.txt").write_bytes(b"x\ny")
    patch = (
        "--- a/win.txt\n+++ b/win.txt\n@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n"
        "--- a/tail.txt\n+++ b/tail.txt\n@@ -1,2 +1,2 @@\n x\n-y\n\\ No newline at end of file\n+z\n"
        "\\ No newline at end of file\n"
    )
    result = call("apply_patch", patch=patch)
    assert not result.is_error, result.content
    assert (workspace / "win.txt").read_bytes() == b"a\r\nB\r\nc\r\n"
    assert (workspace / "tail.txt").read_bytes() == b"x\nz"


def test_patch_outside_the_workspace_needs_approval(call, workspace, tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("keep\n")
    patch = f"--- {outside}\n+++ {outside}\n@@ -1 +1 @@\n-keep\n+changed\n"
    refused = call("apply_patch", patch=patch)
    assert refused.is_error and "needs approval" in refused.content
    assert outside.read_text() == "keep\n"
    approved = call("apply_patch", approver=Approver("auto"), patch=patch)
    assert not approved.is_error, approved.content
    assert outside.read_text() == "changed\n"


def test_not_a_patch_is_explained(call):
    result = call("apply_patch", patch="please change line 3")
    assert result.is_error and "'--- a/PATH'" in result.content


# --- move_file and delete_file ----------------------------------------------------------------------


def test_move_file_renames_moves_into_folders_and_protects_targets(call, workspace):
    (workspace / "a.txt").write_text("A")
    (workspace / "b.txt").write_text("B")
    (workspace / "docs").mkdir()
    assert not call("move_file", src="a.txt", dst="docs").is_error
    assert (workspace / "docs/a.txt").read_text() == "A"
    clash = call("move_file", src="b.txt", dst="docs/a.txt")
    assert clash.is_error and "overwrite=true" in clash.content
    assert not call("move_file", src="b.txt", dst="docs/a.txt", overwrite=True).is_error
    assert (workspace / "docs/a.txt").read_text() == "B" and not (workspace / "b.txt").exists()
    assert not call("move_file", src="docs", dst="archive/2024/docs").is_error
    assert (workspace / "archive/2024/docs/a.txt").exists()
    missing = call("move_file", src="nope.txt", dst="x.txt")
    assert missing.is_error and "No such file" in missing.content


def test_move_out_of_the_workspace_needs_approval(call, workspace, tmp_path):
    (workspace / "a.txt").write_text("A")
    result = call("move_file", src="a.txt", dst=str(tmp_path / "elsewhere.txt"))
    assert result.is_error and "needs approval" in result.content
    assert (workspace / "a.txt").exists()


def test_delete_always_asks_and_folders_need_recursive(call, workspace):
    (workspace / "a.txt").write_text("A")
    (workspace / "build/sub").mkdir(parents=True)
    (workspace / "build/sub/x.o").write_text("x")
    refused = call("delete_file", path="a.txt")
    assert refused.is_error and "needs approval" in refused.content and (workspace / "a.txt").exists()
    yes = Approver("auto")
    assert not call("delete_file", approver=yes, path="a.txt").is_error
    assert not (workspace / "a.txt").exists()
    from ember.agent.door import TurnApprovals

    asked = TurnApprovals()
    folder = call("delete_file", approvals=asked, path="build")
    assert folder.is_error and "recursive=true" in folder.content
    assert asked.records == []  # a call that cannot run is not put to the user
    gone = call("delete_file", approver=yes, path="build", recursive=True)
    assert not gone.is_error and not (workspace / "build").exists()
    root = call("delete_file", approver=yes, path=".", recursive=True)
    assert root.is_error and "Refusing" in root.content and workspace.exists()


def test_delete_approval_request_names_the_folder_and_its_size(workspace):
    (workspace / "cache").mkdir()
    for n in range(3):
        (workspace / f"cache/{n}.tmp").write_text("x")
    asked = []

    def ask(request):
        asked.append(request)
        return "deny"

    registry = builtin_registry(plugins=False)
    ctx = ToolContext(workspace=workspace, approver=Approver("interactive", ask=ask))
    result = registry.execute(ToolCall(id="1", name="delete_file", arguments={"path": "cache", "recursive": True}), ctx)
    assert result.is_error and "refused" in result.content
    assert "3 file(s)" in asked[0].reason and asked[0].action == f"delete_file --recursive {workspace / 'cache'}"


# --- read_pdf ---------------------------------------------------------------------------------------


def test_read_pdf_pages(call, workspace):
    pytest.importorskip("pypdf", reason="read_pdf needs the pdf extra: pip install -e '.[pdf]'")
    (workspace / "report.pdf").write_bytes(pdf_bytes(["Quarterly revenue grew", "Costs fell sharply", "Outlook"]))
    everything = call("read_pdf", path="report.pdf")
    assert not everything.is_error, everything.content
    assert "3 page(s)" in everything.content
    assert "--- page 1 ---\nQuarterly revenue grew" in everything.content
    assert "--- page 3 ---\nOutlook" in everything.content
    some = call("read_pdf", path="report.pdf", pages="2-")
    assert "Costs fell sharply" in some.content and "Quarterly" not in some.content
    bad_range = call("read_pdf", path="report.pdf", pages="4")
    assert bad_range.is_error and "pages 1 to 3" in bad_range.content
    (workspace / "fake.pdf").write_text("not a pdf at all")
    broken = call("read_pdf", path="fake.pdf")
    assert broken.is_error and "not a readable PDF" in broken.content


# --- image_info -------------------------------------------------------------------------------------


def jpeg_bytes(width: int, height: int) -> bytes:
    """The header of a baseline JPEG with an EXIF segment (enough for a header parser)."""
    exif = b"Exif\x00\x00" + b"II*\x00" + b"\x00" * 20
    app1 = b"\xff\xe1" + struct.pack(">H", len(exif) + 2) + exif
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 17, 8, height, width, 3) + b"\x01\x11\x00\x02\x11\x01\x03\x11\x01"
    return b"\xff\xd8" + app1 + sof + b"\xff\xd9"


def test_image_header_parses_common_formats():
    assert image_header(png_bytes(7, 5)) == {"format": "PNG", "width": 7, "height": 5, "mode": "RGB", "bit depth": 8}
    jpeg = image_header(jpeg_bytes(640, 480))
    assert jpeg == {"format": "JPEG", "width": 640, "height": 480, "mode": "YCbCr", "EXIF": "present (not shown)"}
    assert image_header(b"GIF89a" + struct.pack("<HH", 12, 34) + b"\x00" * 8)["width"] == 12
    bmp = b"BM" + b"\x00" * 16 + struct.pack("<ii", 9, -3) + b"\x00" * 30
    assert image_header(bmp) == {"format": "BMP", "width": 9, "height": 3}
    webp = b"RIFF\x00\x00\x00\x00WEBPVP8X" + b"\x00" * 8 + (99).to_bytes(3, "little") + (49).to_bytes(3, "little")
    assert image_header(webp) == {"format": "WEBP", "width": 100, "height": 50}
    assert image_header(b"hello world, not an image") is None


def test_image_info_tool(call, workspace):
    (workspace / "pic.png").write_bytes(png_bytes(3, 2))
    result = call("image_info", path="pic.png")
    assert not result.is_error, result.content
    assert result.content.startswith("pic.png: PNG, 3x2,")
    (workspace / "notes.txt").write_text("hello")
    other = call("image_info", path="notes.txt")
    assert other.is_error and "not an image" in other.content
