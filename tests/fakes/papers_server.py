"""A small web site of papers on 127.0.0.1: HTML pages and real PDF files, every request logged.

    with PapersServer() as site:
        site.add_html("sparse-attention", "Sparse Attention at Scale", ["Claim: ...", "Evidence: ..."])
        site.add_pdf("dense-baseline", ["Dense Baselines Revisited", "Claim: ..."])   # one line a page
        site.url("sparse-attention.html")          # http://127.0.0.1:PORT/papers/sparse-attention.html
        site.hits("sparse-attention.html")         # how many times it was fetched
        site.requests                              # (method, path, user agent), in order

An HTML page has what real article pages have around the text (a menu, a footer) so that the
extraction keeps the article and drops the rest. PDFs are built by hand (``pdf_bytes``): valid
files with one line of Helvetica text per page, which pypdf reads back.
"""

from __future__ import annotations

import html
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["PapersServer", "pdf_bytes"]

PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title></head>
<body>
<nav><a href="/">Home</a> | <a href="/papers/">Papers</a> | <a href="/about">About</a></nav>
<main><article>
<h1>{title}</h1>
<p class="authors">A. Researcher, B. Scientist</p>
{paragraphs}
</article></main>
<footer>Copyright the authors. Preprint, not peer reviewed.</footer>
</body></html>
"""


def pdf_bytes(pages: list[str]) -> bytes:
    """A small valid PDF with one line of Helvetica text per page, xref offsets and all."""
    def escaped(text: str) -> str:
        return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    objects = ["<< /Type /Catalog /Pages 2 0 R >>",
               f"<< /Type /Pages /Kids [{' '.join(f'{4 + 2 * i} 0 R' for i in range(len(pages)))}] "
               f"/Count {len(pages)} >>",
               "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    for i, text in enumerate(pages):
        stream = f"BT /F1 11 Tf 40 720 Td ({escaped(text)}) Tj ET"
        objects.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
                       f"/Resources << /Font << /F1 3 0 R >> >> /Contents {5 + 2 * i} 0 R >>")
        objects.append(f"<< /Length {len(stream)} >>\nstream\n{stream}\nendstream")
    out, offsets = b"%PDF-1.4\n", []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode()
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += "".join(f"{offset:010d} 00000 n \n" for offset in offsets).encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return out


class PapersServer:
    def __init__(self) -> None:
        self.files: dict[str, tuple[bytes, str]] = {}  # path -> (body, content type)
        self.requests: list[tuple[str, str, str]] = []
        self.lock = threading.Lock()

    def __enter__(self) -> PapersServer:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.site = self  # type: ignore[attr-defined]
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/papers/{name}"

    def add_html(self, slug: str, title: str, paragraphs: list[str]) -> str:
        body = "\n".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
        page = PAGE.format(title=html.escape(title), paragraphs=body)
        self.files[f"/papers/{slug}.html"] = (page.encode(), "text/html; charset=utf-8")
        return self.url(f"{slug}.html")

    def add_pdf(self, slug: str, pages: list[str]) -> str:
        self.files[f"/papers/{slug}.pdf"] = (pdf_bytes(pages), "application/pdf")
        return self.url(f"{slug}.pdf")

    def hits(self, name: str) -> int:
        with self.lock:
            return sum(1 for method, path, _ in self.requests if path == f"/papers/{name}" and method == "GET")


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def do_GET(self) -> None:
        site: PapersServer = self.server.site  # type: ignore[attr-defined]
        path = self.path.split("?", 1)[0]
        with site.lock:
            site.requests.append(("GET", path, self.headers.get("user-agent", "")))
        found = site.files.get(path)
        body, kind = found if found else (b"<html><body><h1>404 Not Found</h1></body></html>", "text/html")
        self.send_response(200 if found else 404)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
