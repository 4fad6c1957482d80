"""Every internal link and anchor of the built site resolves, and the site works under a sub-path.

GitHub Pages serves a project site from ``https://<org>.github.io/<repo>/``, and a
reader may open the HTML from disk: a link or asset that starts with ``/`` (or
``//``) points outside the book there. External links are listed in
``artifacts/external-links.txt``, never fetched (there is no network here).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from bs4 import BeautifulSoup

ROOT = Path(__file__).resolve().parents[1]
REPORT = ROOT / "artifacts" / "external-links.txt"

# Attributes that name another resource, by tag.
URL_ATTRIBUTES = {
    "a": ("href",),
    "area": ("href",),
    "link": ("href",),
    "img": ("src", "srcset"),
    "source": ("src", "srcset"),
    "script": ("src",),
    "iframe": ("src",),
    "embed": ("src",),
    "video": ("src", "poster"),
    "audio": ("src",),
    "track": ("src",),
    "object": ("data",),
    "form": ("action",),
}
NON_NAVIGATING_SCHEMES = ("mailto", "tel", "javascript", "data", "blob")
CSS_URL = re.compile(r"""url\(\s*(['"]?)([^'")]+)\1\s*\)""")


@dataclass(frozen=True)
class Reference:
    page: str  # path of the HTML (or CSS) file, relative to the site root
    tag: str
    attribute: str
    value: str

    def __str__(self) -> str:
        return f"{self.page}: <{self.tag} {self.attribute}={self.value!r}>"


@dataclass
class LinkReport:
    broken: list[str]
    missing_anchors: list[str]
    root_absolute: list[str]
    external: set[str]
    checked: int


def _srcset_urls(value: str) -> list[str]:
    return [candidate.strip().split()[0] for candidate in value.split(",") if candidate.strip()]


def _meta_refresh_url(content: str) -> str | None:
    match = re.search(r"url\s*=\s*['\"]?([^'\";]+)", content, re.IGNORECASE)
    return match.group(1).strip() if match else None


def references(site: Path, page: Path, soup: BeautifulSoup) -> Iterator[Reference]:
    relative = page.relative_to(site).as_posix()
    for tag, attributes in URL_ATTRIBUTES.items():
        for element in soup.find_all(tag):
            for attribute in attributes:
                value = element.get(attribute)
                if value is None:
                    continue
                values = _srcset_urls(value) if attribute == "srcset" else [value]
                for url in values:
                    yield Reference(relative, tag, attribute, url.strip())
    for meta in soup.find_all("meta", attrs={"http-equiv": re.compile("^refresh$", re.IGNORECASE)}):
        url = _meta_refresh_url(meta.get("content", ""))
        if url:
            yield Reference(relative, "meta", "refresh", url)


def css_references(site: Path, stylesheet: Path) -> Iterator[Reference]:
    relative = stylesheet.relative_to(site).as_posix()
    for match in CSS_URL.finditer(stylesheet.read_text(errors="replace")):
        yield Reference(relative, "css", "url", match.group(2).strip())


class Site:
    """The built HTML, with the element ids of each page read once."""

    def __init__(self, root: Path):
        self.root = root.resolve()
        self._ids: dict[Path, set[str]] = {}
        self._soups: dict[Path, BeautifulSoup] = {}

    def soup(self, page: Path) -> BeautifulSoup:
        if page not in self._soups:
            self._soups[page] = BeautifulSoup(page.read_text(errors="replace"), "html.parser")
        return self._soups[page]

    def ids(self, page: Path) -> set[str]:
        if page not in self._ids:
            soup = self.soup(page)
            found = {element["id"] for element in soup.find_all(id=True)}
            found |= {element["name"] for element in soup.find_all("a", attrs={"name": True})}
            self._ids[page] = found
        return self._ids[page]

    def pages(self) -> list[Path]:
        # _static/ holds the themes' Jinja macro files (webpack-macros.html): templates, not pages.
        return sorted(p for p in self.root.rglob("*.html") if not p.relative_to(self.root).parts[0] == "_static")

    def stylesheets(self) -> list[Path]:
        return sorted(self.root.rglob("*.css"))


def check_site(root: Path) -> LinkReport:
    """Resolve every reference of every page and stylesheet under ``root``."""
    site = Site(root)
    report = LinkReport(broken=[], missing_anchors=[], root_absolute=[], external=set(), checked=0)
    all_references: list[tuple[Path, Reference]] = []
    for page in site.pages():
        all_references += [(page, ref) for ref in references(site.root, page, site.soup(page))]
    for stylesheet in site.stylesheets():
        all_references += [(stylesheet, ref) for ref in css_references(site.root, stylesheet)]

    for source, ref in all_references:
        value = ref.value
        if not value:
            continue
        parts = urlsplit(value)
        if parts.scheme in NON_NAVIGATING_SCHEMES:
            continue
        if parts.scheme or value.startswith("//"):
            if value.startswith("//"):
                report.root_absolute.append(f"{ref} (protocol-relative)")
            elif parts.scheme in ("http", "https") and parts.netloc:
                report.external.add(value)
            else:
                report.broken.append(f"{ref} (unexpected scheme)")
            continue
        if value.startswith("/"):
            report.root_absolute.append(str(ref))
            continue
        report.checked += 1
        path = unquote(parts.path)
        target = (source.parent / path).resolve() if path else source.resolve()
        if not target.is_relative_to(site.root):
            report.broken.append(f"{ref} (leaves the site)")
            continue
        if target.is_dir():
            target = target / "index.html"
        if not target.is_file():
            report.broken.append(f"{ref} (no file {target.relative_to(site.root)})")
            continue
        fragment = unquote(parts.fragment)
        if fragment and target.suffix == ".html" and fragment not in site.ids(target):
            report.missing_anchors.append(f"{ref} (no id {fragment!r} in {target.relative_to(site.root)})")
    return report


def write_external_links(report: LinkReport, path: Path = REPORT) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    header = "# External links of the built book (listed, not fetched)\n"
    path.write_text(header + "".join(f"{url}\n" for url in sorted(report.external)))


# --- the checker itself, on a hand-made site (fast) ----------------------------------


@pytest.fixture
def tiny_site(tmp_path) -> Path:
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "_static").mkdir()
    (tmp_path / "_static" / "style.css").write_text(
        "a { background: url('../_static/ok.png'); } b { background: url(/root.png); }"
    )
    (tmp_path / "_static" / "ok.png").write_bytes(b"png")
    (tmp_path / "index.html").write_text('<meta http-equiv="refresh" content="0; url=intro.html">')
    (tmp_path / "intro.html").write_text(
        '<h1 id="top">Intro</h1>'
        '<a href="notebooks/one.html#section">ok</a>'
        '<a href="notebooks/one.html#nowhere">missing anchor</a>'
        '<a href="notebooks/two.html">broken</a>'
        '<a href="/intro.html">root-absolute</a>'
        '<a href="//cdn.example.org/x.js">protocol-relative</a>'
        '<a href="https://example.org/page">external</a>'
        '<a href="mailto:someone@example.org">mail</a>'
        '<a href="#top">self</a><a href="#">current</a>'
        '<img src="_static/ok.png" srcset="_static/ok.png 1x, _static/gone.png 2x">'
        '<link rel="stylesheet" href="_static/style.css">'
    )
    (tmp_path / "notebooks" / "one.html").write_text(
        '<section id="section"><a href="../intro.html#top">back</a><a href="..">up</a></section>'
    )
    return tmp_path


def test_checker_finds_each_kind_of_problem(tiny_site):
    report = check_site(tiny_site)
    assert report.broken == [
        "intro.html: <a href='notebooks/two.html'> (no file notebooks/two.html)",
        "intro.html: <img srcset='_static/gone.png'> (no file _static/gone.png)",
    ]
    assert report.missing_anchors == [
        "intro.html: <a href='notebooks/one.html#nowhere'> (no id 'nowhere' in notebooks/one.html)"
    ]
    assert sorted(report.root_absolute) == [
        "_static/style.css: <css url='/root.png'>",
        "intro.html: <a href='//cdn.example.org/x.js'> (protocol-relative)",
        "intro.html: <a href='/intro.html'>",
    ]
    assert report.external == {"https://example.org/page"}


def test_checker_passes_a_clean_site(tiny_site):
    (tiny_site / "intro.html").write_text('<a href="notebooks/one.html#section">ok</a><h1 id="top">x</h1>')
    (tiny_site / "_static" / "style.css").write_text("a { background: url(ok.png); }")
    report = check_site(tiny_site)
    assert (report.broken, report.missing_anchors, report.root_absolute) == ([], [], [])
    assert report.checked == 5


# --- the real book (small profile) ---------------------------------------------------


@pytest.fixture(scope="module")
def site_report(small_book) -> LinkReport:
    report = check_site(small_book / "book" / "_build" / "html")
    write_external_links(report)
    return report


@pytest.mark.slow
def test_every_internal_link_of_the_book_resolves(site_report):
    assert site_report.checked > 100
    assert site_report.broken == [], "\n".join(site_report.broken)


@pytest.mark.slow
def test_every_anchor_of_the_book_exists(site_report):
    assert site_report.missing_anchors == [], "\n".join(site_report.missing_anchors)


@pytest.mark.slow
def test_no_link_or_asset_is_absolute_to_the_server_root(site_report):
    assert site_report.root_absolute == [], "\n".join(site_report.root_absolute)


@pytest.mark.slow
def test_external_links_are_listed_not_fetched(site_report):
    assert REPORT.is_file()
    listed = [line for line in REPORT.read_text().splitlines() if not line.startswith("#")]
    assert listed == sorted(site_report.external)
    # The Colab launch buttons and the repository button are external links of every chapter.
    assert any(url.startswith("https://colab.research.google.com/github/") for url in listed)
