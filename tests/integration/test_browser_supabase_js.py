"""supabase-js in a real browser, without a gateway (issue 14 §3): headless Chromium
loads a page (tests/browser/app.html, served from an origin of its own) that calls
`createClient(url, key)`, uploads a photo it draws with tus-js-client through
/storage/v1/upload/resumable, lists the folder, and shows a thumbnail from a signed
URL with a transform. The test asserts what the page shows."""

from __future__ import annotations

import functools
import http.server
import shutil
import subprocess
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest

from tests.integration.browser_support import headless_chromium
from tests.rig import Server

PAGE_DIR = Path(__file__).resolve().parents[1] / "browser"


def _install_page_scripts() -> None:
    """supabase-js and tus-js-client from npm (package-lock.json pins them)."""
    if (PAGE_DIR / "node_modules" / "@supabase" / "supabase-js").is_dir():
        return
    npm = shutil.which("npm")
    assert npm is not None, "npm is needed for the browser tests"
    subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=PAGE_DIR, check=True,
                   timeout=600)


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def page_origin() -> Iterator[str]:
    """The page's own web server (another origin than s3proxy's)."""
    _install_page_scripts()
    handler = functools.partial(_Quiet, directory=str(PAGE_DIR))
    web = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{web.server_address[1]}"
    web.shutdown()


def test_supabase_js_uploads_lists_and_shows_a_thumbnail(server: Server, page_origin: str) -> None:
    bucket = f"web-{uuid.uuid4().hex[:8]}"
    rest = httpx.Client(base_url=server.url, headers=server.headers(), timeout=60)
    assert rest.post("bucket", json={"name": bucket}).status_code == 200
    try:
        query = urlencode({"url": server.url.rstrip("/"), "key": server.service_token, "bucket": bucket})
        with headless_chromium() as browser:
            page = browser.new_page()
            page.goto(f"{page_origin}/app.html?{query}")
            page.wait_for_function("document.getElementById('status').textContent !== 'running'",
                                   timeout=90_000)
            status = page.text_content("#status")
            files = page.locator("#files li").all_text_contents()
        assert status == "done 200x150", status
        assert len(files) == 1 and files[0].startswith("from-the-page.jpg image/jpeg "), files
        size = int(files[0].rsplit(" ", 1)[1])
        stored = rest.get(f"object/{bucket}/photos/from-the-page.jpg")
        assert stored.status_code == 200 and stored.content[:3] == b"\xff\xd8\xff" and len(stored.content) == size
    finally:
        rest.post(f"bucket/{bucket}/empty", json={})
        rest.delete(f"bucket/{bucket}")
