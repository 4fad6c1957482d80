"""Serve a built site under a sub-path and watch what a real Chromium does with it.

Used by tests/test_browser.py. The browser is Debian's Chromium (/usr/bin/chromium,
packages `chromium` and `chromium-driver`, installed by scripts/install-test-deps.sh),
driven through Playwright's Python client; no browser is downloaded at run time.
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

# The flags the project runs Chromium with. Playwright adds its own automation
# flags and a fresh temporary profile (--user-data-dir) for every launch.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
DEBIAN_CHROMIUM = "/usr/bin/chromium"

# The site is served where GitHub Pages puts a project site: https://<org>.github.io/<repo>/.
SITE_PREFIX = "rnn-mnist"

# Requests a browser makes on its own, not because the site asked: Chromium probes
# the server root for a favicon when a page declares none.
BROWSER_OWN_REQUESTS = ("/favicon.ico",)


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def unavailable(reason: str):
    """Browser tests cannot run: an error in CI, a visible skip elsewhere."""
    hint = "install it with scripts/install-test-deps.sh (apt-get chromium chromium-driver; pip playwright)"
    if in_ci():
        pytest.fail(f"{reason}; CI must run the browser tests: {hint}", pytrace=False)
    pytest.skip(f"{reason} ({hint})")


def chromium_executable() -> str | None:
    """Debian's Chromium, or the one named by $RNN_MNIST_CHROMIUM."""
    named = os.environ.get("RNN_MNIST_CHROMIUM")
    if named:
        return named if Path(named).is_file() else None
    if Path(DEBIAN_CHROMIUM).is_file():
        return DEBIAN_CHROMIUM
    return shutil.which("chromium")


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    log: list[tuple[str, int]]

    def log_request(self, code="-", size="-"):
        try:
            status = int(code)
        except (TypeError, ValueError):
            status = 0
        self.log.append((self.path, status))

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass


class SiteServer:
    """``html_dir`` served on 127.0.0.1 (an ephemeral port) at ``/<prefix>/``.

    Every request the server answered is kept in ``requests`` as (path, status).
    """

    def __init__(self, html_dir: Path, prefix: str = SITE_PREFIX):
        self.html_dir = Path(html_dir).resolve()
        self.prefix = prefix
        self.requests: list[tuple[str, int]] = []
        self._tmp = tempfile.TemporaryDirectory(prefix="served-site-")
        served = Path(self._tmp.name)
        (served / prefix).symlink_to(self.html_dir, target_is_directory=True)
        handler = type("Handler", (_QuietHandler,), {"log": self.requests})
        self._server = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(handler, directory=str(served))
        )
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def origin(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def base(self) -> str:
        return f"{self.origin}/{self.prefix}/"

    def url(self, path: str = "") -> str:
        return self.base + path.lstrip("/")

    def is_local(self, url: str) -> bool:
        return url.startswith(self.origin + "/")

    def outside_the_site(self, since: int = 0) -> list[str]:
        """Requests (from index ``since`` on) that escaped the sub-path, as a link to '/...' would."""
        return [
            path
            for path, _ in self.requests[since:]
            if not path.startswith(f"/{self.prefix}/") and path not in BROWSER_OWN_REQUESTS
        ]

    def __enter__(self) -> SiteServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        self._tmp.cleanup()


@dataclass
class PageWatch:
    """What one browser page did: console errors, script errors, failed requests.

    ``is_local(url)`` tells the site's own URLs from the rest. Requests that leave
    the site are blocked (there is no network here) and listed in ``external``;
    the console errors those blocked requests cause are not counted as the site's.
    """

    is_local: Callable[[str], bool]
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    external: list[str] = field(default_factory=list)

    def attach(self, page) -> PageWatch:
        page.on("console", self._on_console)
        page.on("pageerror", lambda error: self.page_errors.append(str(error)))
        page.on("requestfailed", self._on_request_failed)
        page.on("response", self._on_response)
        return self

    def block_external(self, context) -> None:
        def handle(route):
            self.external.append(route.request.url)
            route.abort("blockedbyclient")

        context.route(lambda url: not self._is_site_or_inline(url), handle)

    def _is_site_or_inline(self, url: str) -> bool:
        return self.is_local(url) or urlsplit(url).scheme in ("data", "blob", "about")

    def _caused_by_browser_or_blocked(self, url: str) -> bool:
        if not url:
            return False
        if not self._is_site_or_inline(url):
            return True  # an external resource this test blocked
        return urlsplit(url).path in BROWSER_OWN_REQUESTS

    def _on_console(self, message) -> None:
        if message.type != "error":
            return
        location = message.location or {}
        if self._caused_by_browser_or_blocked(location.get("url", "")):
            return
        where = location.get("url", "")
        self.console_errors.append(f"{message.text} ({where}:{location.get('lineNumber', '?')})")

    def _on_request_failed(self, request) -> None:
        if self._is_site_or_inline(request.url) and urlsplit(request.url).path not in BROWSER_OWN_REQUESTS:
            self.failed_requests.append(f"{request.url}: {request.failure}")

    def _on_response(self, response) -> None:
        if response.status >= 400 and self.is_local(response.url):
            if urlsplit(response.url).path not in BROWSER_OWN_REQUESTS:
                self.failed_requests.append(f"{response.url}: HTTP {response.status}")

    def problems(self) -> list[str]:
        return (
            [f"console error: {e}" for e in self.console_errors]
            + [f"script error: {e}" for e in self.page_errors]
            + [f"failed request: {r}" for r in self.failed_requests]
        )


# Scroll every image into view, wait until it has decoded (or failed), and report it.
IMAGES_JS = """
async () => {
  const images = Array.from(document.images);
  for (const image of images) {
    image.scrollIntoView({block: "center"});
    try { await image.decode(); } catch (error) { /* reported through naturalWidth */ }
  }
  window.scrollTo(0, 0);
  return images.map(image => ({
    src: image.currentSrc || image.src,
    complete: image.complete,
    naturalWidth: image.naturalWidth,
    naturalHeight: image.naturalHeight,
  }));
}
"""


def undecoded_images(page) -> tuple[int, list[str]]:
    """(number of images, the ones that did not decode)."""
    images = page.evaluate(IMAGES_JS)
    bad = [f"{i['src']} (complete={i['complete']}, naturalWidth={i['naturalWidth']})"
           for i in images if not (i["complete"] and i["naturalWidth"] > 0)]
    return len(images), bad
