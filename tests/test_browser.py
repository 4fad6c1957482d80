"""The built book in a real browser, as a reader meets it (small profile).

Debian's headless Chromium, driven by Playwright, reads the site served on
127.0.0.1 under a sub-path (``/rnn-mnist/``, like a GitHub Pages project site)
and from the file system. A screenshot of every page goes to
``artifacts/screenshots/`` for a person to look at.

Without Chromium these tests skip with the reason; with ``CI`` set they fail.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import yaml
from browser_support import (
    PageWatch,
    SiteServer,
    undecoded_images,
)

from rnn_mnist.book import chapter_names, toc_entries

ROOT = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
REPOSITORY = CONFIG["repository"]["url"].removeprefix("https://github.com/").strip("/")
CHAPTERS = chapter_names(ROOT)
# Every document of the table of contents, in reading order: intro, chapters, results.
PAGES = toc_entries(ROOT)
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
SEARCHES = [("LSTM", "02_building_the_lstm"), ("confusion", "05_confusion_matrix")]

# Hosts a page may ask for beyond the book itself. Tests block them (no network
# here); a new one means the site depends on another service, so it is named here.
# None: MathJax and ONNX Runtime Web are served from the site's own _static/vendor/.
EXPECTED_EXTERNAL_HOSTS: dict[str, str] = {}

pytestmark = pytest.mark.slow


def without_fragment(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def assert_clean(watch: PageWatch) -> None:
    problems = watch.problems()
    if problems:
        pytest.fail("in Chromium, the page showed:\n  " + "\n  ".join(problems), pytrace=False)


def screenshot_name(entry: str) -> str:
    return Path(entry).name


# --- fixtures ---------------------------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def _browser_first(chromium):
    """Look for Chromium before the book is built, so a missing browser is reported at once."""


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for old in SCREENSHOTS.glob("*.png"):
        old.unlink()
    return SCREENSHOTS


@pytest.fixture(scope="module")
def html_dir(small_book) -> Path:
    return small_book / "book" / "_build" / "html"


@pytest.fixture(scope="module")
def site(html_dir):
    with SiteServer(html_dir) as server:
        yield server


class Reader:
    """One browser tab in a fresh context (no cookies, no storage), as a new reader."""

    def __init__(self, browser, is_local):
        self.context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
        self.context.set_default_timeout(30_000)
        self.watch = PageWatch(is_local)
        self.watch.block_external(self.context)
        self.downloads: list = []
        self.context.on("page", lambda tab: tab.on("download", lambda d: self.downloads.append(d)))
        self.page = self.context.new_page()
        self.watch.attach(self.page)

    def open(self, url: str):
        response = self.page.goto(url, wait_until="load")
        if url.startswith("http"):
            self.page.wait_for_load_state("networkidle")
        return response

    def external_hosts(self) -> set[str]:
        return {urlsplit(url).hostname or url for url in self.watch.external}

    def close(self):
        self.context.close()


@pytest.fixture
def reader(browser, site):
    start = len(site.requests)
    tab = Reader(browser, site.is_local)
    yield tab
    tab.close()
    escaped = site.outside_the_site(since=start)
    assert escaped == [], f"requests outside /{site.prefix}/ (absolute links?): {escaped}"


@pytest.fixture
def file_reader(browser, html_dir):
    prefix = html_dir.resolve().as_uri() + "/"
    tab = Reader(browser, lambda url: url.startswith(prefix))
    yield tab
    tab.close()


# --- every page ---------------------------------------------------------------------


@pytest.mark.parametrize("entry", PAGES)
def test_page_loads_cleanly_with_every_image(reader, site, screenshots, entry):
    response = reader.open(site.url(f"{entry}.html"))
    count, undecoded = undecoded_images(reader.page)
    reader.page.screenshot(path=str(screenshots / f"{screenshot_name(entry)}.png"), full_page=True)

    assert response is not None and response.status == 200
    assert undecoded == [], f"{len(undecoded)} of {count} images did not decode"
    assert_clean(reader.watch)
    unexpected = reader.external_hosts() - set(EXPECTED_EXTERNAL_HOSTS)
    assert not unexpected, f"the page asks other hosts: {sorted(unexpected)}"


@pytest.mark.parametrize("entry", PAGES)
def test_sidebar_lists_every_chapter_in_order(reader, site, entry):
    reader.open(site.url(f"{entry}.html"))
    links = reader.page.locator("nav.bd-docs-nav a.reference")
    hrefs = [without_fragment(h) for h in links.evaluate_all("links => links.map(a => a.href)")]
    assert hrefs == [site.url(f"{e}.html") for e in PAGES]
    titles = [t.strip() for t in links.all_inner_texts()]
    assert all(titles), titles
    # The page being read is the one marked current.
    current = reader.page.locator("nav.bd-docs-nav li.current > a.reference")
    assert without_fragment(current.first.evaluate("a => a.href")) == site.url(f"{entry}.html")


def test_each_sidebar_link_opens_its_page(reader, site):
    reader.open(site.url(f"{PAGES[0]}.html"))
    links = reader.page.locator("nav.bd-docs-nav a.reference")
    titles = [t.strip() for t in links.all_inner_texts()]
    assert len(titles) == len(PAGES)
    for index, entry in enumerate(PAGES):
        link = reader.page.locator("nav.bd-docs-nav a.reference").nth(index)
        link.click()
        # "networkidle", not "load": a page's own fetches (the draw page loads its model
        # after "load") must finish before the next click, or navigating aborts them.
        reader.page.wait_for_load_state("networkidle")
        assert without_fragment(reader.page.url) == site.url(f"{entry}.html"), f"sidebar link {titles[index]!r}"
        heading = reader.page.locator("main h1").first.inner_text()
        assert titles[index] in heading, (titles[index], heading)
    assert_clean(reader.watch)


def test_the_project_site_address_opens_the_intro(reader, site):
    reader.open(site.base)
    reader.page.wait_for_url(site.url(f"{PAGES[0]}.html"))
    assert reader.page.locator("main h1").count() >= 1


# --- chapters: Colab and download ---------------------------------------------------


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_colab_button_opens_this_chapter_from_the_repository(reader, site, chapter):
    reader.open(site.url(f"notebooks/{chapter}.html"))
    reader.page.locator(".dropdown-launch-buttons button.dropdown-toggle").click()
    colab = reader.page.locator(".dropdown-launch-buttons a.dropdown-item", has_text="Colab")
    assert colab.is_visible()
    expected = f"https://colab.research.google.com/github/{REPOSITORY}/blob/main/notebooks/{chapter}.ipynb"
    assert colab.get_attribute("href") == expected


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_download_button_offers_the_notebook(reader, site, html_dir, chapter):
    reader.open(site.url(f"notebooks/{chapter}.html"))
    reader.page.locator(".dropdown-download-buttons button.dropdown-toggle").click()
    source = reader.page.locator(".dropdown-download-buttons a.btn-download-source-button")
    assert source.is_visible()
    assert source.inner_text().strip() == ".ipynb"
    source.click()
    for _ in range(100):
        if reader.downloads:
            break
        reader.page.wait_for_timeout(100)
    assert reader.downloads, "clicking .ipynb downloaded nothing"
    download = reader.downloads[0]
    assert download.suggested_filename == f"{chapter}.ipynb"
    content = Path(download.path()).read_bytes()
    assert content == (html_dir / "_sources" / "notebooks" / f"{chapter}.ipynb").read_bytes()
    notebook = json.loads(content)
    assert notebook["nbformat"] == 4 and notebook["cells"]


# --- search ---------------------------------------------------------------------------


@pytest.mark.parametrize(("term", "chapter"), SEARCHES)
def test_search_finds_the_chapter(reader, site, screenshots, term, chapter):
    reader.open(site.url(f"search.html?q={term}"))
    reader.page.wait_for_function(
        "() => /Search finished|did not match/.test("
        "(document.querySelector('#search-results .search-summary') || {}).textContent || '')"
    )
    reader.page.screenshot(path=str(screenshots / f"search-{term}.png"), full_page=True)
    results = reader.page.locator("#search-results ul.search li a")
    found = [without_fragment(h) for h in results.evaluate_all("links => links.map(a => a.href)")]
    assert site.url(f"notebooks/{chapter}.html") in found, found
    for url in set(found):
        assert site.is_local(url), url
        assert reader.page.request.get(url).status == 200, url
    assert_clean(reader.watch)


# --- equations ------------------------------------------------------------------------

EQUATIONS_PAGE = "notebooks/02_building_the_lstm"


def test_equations_are_typeset_by_the_sites_own_mathjax(reader, site):
    requested: list[str] = []
    reader.page.on("request", lambda request: requested.append(request.url))
    reader.open(site.url(f"{EQUATIONS_PAGE}.html"))
    reader.page.wait_for_selector("mjx-container", state="attached")
    assert reader.page.locator("main mjx-container").count() >= 4
    assert site.url("_static/vendor/mathjax/tex-chtml.js") in requested
    assert reader.external_hosts() == set()
    assert_clean(reader.watch)


def test_equations_are_typeset_from_the_file_system(file_reader, html_dir):
    file_reader.open((html_dir / f"{EQUATIONS_PAGE}.html").as_uri())
    file_reader.page.wait_for_selector("mjx-container", state="attached")
    assert file_reader.page.locator("main mjx-container").count() >= 4
    assert file_reader.watch.external == []
    assert_clean(file_reader.watch)


# --- from the file system ------------------------------------------------------------


@pytest.mark.parametrize("entry", PAGES)
def test_page_works_from_the_file_system(file_reader, html_dir, entry):
    file_reader.open((html_dir / f"{entry}.html").as_uri())
    count, undecoded = undecoded_images(file_reader.page)
    assert undecoded == [], f"{len(undecoded)} of {count} images did not decode"
    assert_clean(file_reader.watch)
    # The theme's stylesheets applied: the sidebar lists the book.
    assert file_reader.page.locator("nav.bd-docs-nav a.reference").count() == len(PAGES)
