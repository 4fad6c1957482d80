"""The built site, read as a reader meets it (small profile)."""

import json
import re
import shutil
from pathlib import Path

import pytest
import yaml
from bs4 import BeautifulSoup

from rnn_mnist.book import chapter_names

ROOT = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
CHAPTERS = chapter_names(ROOT)

pytestmark = pytest.mark.slow


def page(book_root: Path, name: str) -> BeautifulSoup:
    return BeautifulSoup((book_root / "book/_build/html" / f"{name}.html").read_text(), "html.parser")


def drawn_images(book_root: Path, chapter: str) -> int:
    executed = json.loads((book_root / "book/notebooks" / f"{chapter}.ipynb").read_text())
    return sum(
        "image/png" in output.get("data", {})
        for cell in executed["cells"]
        for output in cell.get("outputs", [])
    )


def test_every_page_exists(small_book):
    html = small_book / "book/_build/html"
    for name in ["intro", "results", *(f"notebooks/{c}" for c in CHAPTERS)]:
        assert (html / f"{name}.html").is_file(), name
    assert (html / "index.html").is_file()


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_images_are_rendered_and_present(small_book, chapter):
    expected = drawn_images(small_book, chapter)
    images = page(small_book, f"notebooks/{chapter}").select("article img, main img, .cell_output img")
    assert len(images) >= expected
    for image in images:
        target = (small_book / "book/_build/html/notebooks" / image["src"]).resolve()
        assert target.is_file() and target.stat().st_size > 0, image["src"]


def test_chapters_that_teach_with_figures_draw_them(small_book):
    drawing = {chapter for chapter in CHAPTERS if drawn_images(small_book, chapter) > 0}
    assert {"01_data", "03_training", "04_learning_curves", "05_confusion_matrix", "06_error_analysis"} <= drawing


@pytest.mark.parametrize("name", ["intro", "results", *(f"notebooks/{c}" for c in CHAPTERS)])
def test_no_page_shows_an_error_or_traceback(small_book, name):
    soup = page(small_book, name)
    assert not soup.select(".output.error, .output.traceback, .traceback")
    text = soup.get_text()
    assert "Traceback (most recent call last)" not in text
    assert not re.search(r"\b\w+Error: ", text.replace("DataSourceError", "").replace("ConfigError", ""))


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_colab_button_opens_the_source_notebook_on_main(small_book, chapter):
    repository = CONFIG["repository"]["url"].removeprefix("https://github.com/")
    expected = (
        f"https://colab.research.google.com/github/{repository}/blob/main/notebooks/{chapter}.ipynb"
    )
    links = [a.get("href") for a in page(small_book, f"notebooks/{chapter}").find_all("a")]
    assert expected in links


def test_results_page_reports_the_run(small_book):
    text = page(small_book, "results").get_text()
    assert re.search(r"The book[’']s recipe\s*\d+\.\d+%", text)  # Sphinx curls the apostrophe
    for needle in ("Seconds per epoch", "Device", "tensorflow", "keras", "Trained:"):
        assert needle in text


ENGINEERING_NOISE = {
    "run hash": re.compile(r"\b(?:mnist|fashion_mnist)-[a-z_]+\d+-[0-9a-f]{12}\b"),
    "SHA-256": re.compile(r"\b[0-9a-f]{16,}\b"),
    "thread count": re.compile(r"intra_op|inter_op|thread per (?:TensorFlow )?op", re.IGNORECASE),
    "cache path": re.compile(r"\.cache/rnn-mnist|RNN_MNIST_HOME|/runs/"),
    "performance notes": re.compile(r"performance\.md"),
}


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_no_engineering_noise_outside_the_collapsed_details(small_book, chapter):
    soup = page(small_book, f"notebooks/{chapter}")
    details = soup.find_all("details")
    assert any("Reproducibility details" in d.get_text() for d in details), "no Reproducibility details block"
    for block in details:
        block.decompose()
    main = soup.select_one("main") or soup
    text = main.get_text(" ")
    found = {name: pattern.search(text).group(0) for name, pattern in ENGINEERING_NOISE.items() if pattern.search(text)}
    assert not found, f"{chapter} shows engineering detail outside its collapsed details block: {found}"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_the_colab_install_cell_runs_in_colab_but_is_not_rendered(small_book, chapter):
    source = json.loads((ROOT / "notebooks" / f"{chapter}.ipynb").read_text())["cells"][0]
    assert "pip install" in "".join(source["source"]) and "remove-cell" in source["metadata"]["tags"]
    text = page(small_book, f"notebooks/{chapter}").get_text()
    assert "pip install" not in text.split("Exercises")[0] and "REPOSITORY_URL" not in text


def test_the_intro_lists_every_chapter_and_no_chapter_claims_to_be_the_last(small_book):
    intro = (ROOT / "book" / "intro.md").read_text()
    for chapter in CHAPTERS:
        assert f"notebooks/{chapter}.ipynb" in intro, f"the intro does not list {chapter}"
    numbers = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight", 9: "nine"}
    assert f"Over {numbers[len(CHAPTERS)]} chapters" in intro
    for chapter in CHAPTERS[:-1]:
        text = page(small_book, f"notebooks/{chapter}").get_text()
        assert "last chapter" not in text.lower(), f"{chapter} says it is the last chapter"


# -- citations and the bibliography ---------------------------------------------------------
BIB_KEYS = re.findall(r"^@\w+\{([^,]+),", (ROOT / "book" / "references.bib").read_text(), re.MULTILINE)
CITE_ROLE = re.compile(r"\{cite(?::[a-z]+)?\}`([^`]+)`")


def cited_keys(chapter: str) -> set[str]:
    cells = json.loads((ROOT / "notebooks" / f"{chapter}.ipynb").read_text())["cells"]
    text = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    return {key.strip() for keys in CITE_ROLE.findall(text) for key in keys.split(",")}


def test_references_bib_has_the_works_the_book_must_cite():
    required = {
        "hochreiter1997lstm", "gers2000forget", "cho2014gru", "schuster1997bidirectional",
        "bengio1994learning", "pascanu2013difficulty", "le2015irnn", "lecun1998mnist",
        "xiao2017fashion", "loshchilov2017sgdr", "kingma2015adam", "polyak1992averaging",
    }
    assert required <= set(BIB_KEYS)
    assert len(BIB_KEYS) == len(set(BIB_KEYS)), "a key appears twice in references.bib"
    entries = re.split(r"^@", (ROOT / "book" / "references.bib").read_text(), flags=re.MULTILINE)[1:]
    for entry in entries:
        assert re.search(r"^\s*(doi|url)\s*=", entry, re.MULTILINE), f"no DOI or URL: {entry.splitlines()[0]}"
        for field in ("author", "title", "year"):
            assert re.search(rf"^\s*{field}\s*=", entry, re.MULTILINE), f"no {field}: {entry.splitlines()[0]}"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_chapter_cites_only_keys_of_the_bibliography(chapter):
    keys = cited_keys(chapter)
    assert keys, f"{chapter} cites nothing with {{cite}}"
    assert keys <= set(BIB_KEYS), keys - set(BIB_KEYS)


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_citations_render_as_links_to_the_bibliography(small_book, chapter):
    soup = page(small_book, f"notebooks/{chapter}")
    text = soup.get_text()
    assert "{cite" not in text and "could not find bibtex key" not in text.lower()
    links = [a["href"] for a in soup.select("main a[href], article a[href]") if "bibliography.html#" in a["href"]]
    assert len(links) >= len(cited_keys(chapter)), links


def test_the_bibliography_page_lists_every_entry(small_book):
    soup = page(small_book, "bibliography")
    listed = soup.select("div.citation, dl.citation > dt, .bibliography dt, div[role=doc-biblioentry]")
    text = soup.get_text(" ")
    assert len(listed) >= len(BIB_KEYS), len(listed)
    for needle in ("Hochreiter", "Long short-term memory", "Fashion-MNIST", "10.1162/neco.1997.9.8.1735"):
        assert needle.lower() in text.lower(), needle


def test_the_sphinx_build_left_no_unresolved_citation(small_book):
    html = small_book / "book/_build/html"
    for page_path in html.rglob("*.html"):
        text = page_path.read_text()
        assert "could not find bibtex key" not in text.lower(), page_path
        assert not re.search(r"\{cite(?::[a-z]+)?\}`", text), page_path
    # Every citation in the built pages points at an entry that exists on the bibliography page.
    targets = {tag.get("id") for tag in page(small_book, "bibliography").find_all(id=True)}
    for chapter in CHAPTERS:
        for link in page(small_book, f"notebooks/{chapter}").select("a[href*='bibliography.html#']"):
            assert link["href"].split("#", 1)[1] in targets, (chapter, link["href"])


# -- the end of every chapter: exercises and references (sources) ----------------------------
def section(source: str, heading: str) -> str:
    match = re.search(rf"^## {re.escape(heading)}\s*$(.*?)(?=^## |\Z)", source, re.MULTILINE | re.DOTALL)
    return match.group(1) if match else ""


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_chapter_has_exercises_with_collapsed_solutions_and_references(chapter):
    cells = json.loads((ROOT / "notebooks" / f"{chapter}.ipynb").read_text())["cells"]
    text = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    exercises = section(text, "Exercises")
    numbered = re.findall(r"^(?:\*\*\d+\. |\d+\. \*\*)", exercises, re.MULTILINE)
    assert len(numbered) >= 2, f"{chapter}: {len(numbered)} exercises"
    solutions = re.findall(r"^\s*:::\{dropdown\} Solution", exercises, re.MULTILINE)
    assert len(solutions) >= len(numbered), f"{chapter}: {len(solutions)} collapsed solutions"
    assert re.search(rf"papermill {chapter}\.ipynb \S+\.ipynb( -p \w+ \S+)+", exercises), chapter
    references = section(text, "Resources and references")
    assert len(re.findall(r"^[*-] ", references, re.MULTILINE)) >= 3, chapter
    assert CITE_ROLE.search(references), f"{chapter} names no paper with {{cite}}"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_solutions_are_collapsed_on_the_page(small_book, chapter):
    soup = page(small_book, f"notebooks/{chapter}")
    dropdowns = soup.select("details.sd-dropdown")
    assert len(dropdowns) >= 2
    assert all(not d.has_attr("open") for d in dropdowns)


# -- readable tables --------------------------------------------------------------------------
#: Columns and rows that hold counts: a cell there must read as an integer.
COUNT_HEADER = re.compile(
    r"\b(support|count|epochs?|parameters|images|units|answers|steps per epoch|batch size|rows? to|rank)\b",
    re.IGNORECASE,
)
#: Columns and rows that hold a time or a score, whatever else their name says.
TIME_OR_SCORE = re.compile(r"\b(seconds?|accuracy|loss|learning rate)\b", re.IGNORECASE)
FLOAT_FOR_INTEGER = re.compile(r"^\d[\d,]*\.0+$|^\d+\.\d{6}$")
#: A missing number shown raw. ("None" is left to count cells: a config table shows it as a value.)
MISSING_SHOWN_RAW = re.compile(r"^(nan|NaN|<NA>|NaT)$")


def rendered_tables(book_root: Path, name: str):
    soup = page(book_root, name)
    for block in soup.find_all("details"):
        if "Reproducibility details" in block.get_text():
            block.decompose()
    for table in soup.select("main table, article table"):
        def texts(rows):
            return [[cell.get_text(" ", strip=True) for cell in tr.find_all(["th", "td"])] for tr in rows]

        head = table.find("thead")
        header = texts(head.find_all("tr")) if head else []
        body = texts(tr for tr in table.find_all("tr") if not (head and tr.find_parent("thead")))
        yield header, [row for row in body if row]


def count_cells(header_rows: list[list[str]], rows: list[list[str]]):
    """(where, cell) for every body cell whose column or row is named like a count."""
    for row in rows:
        label = row[0] if row else ""
        for position, cell in enumerate(row[1:], start=1):
            column = " ".join(h[position] for h in header_rows if len(h) > position)
            if TIME_OR_SCORE.search(label) or TIME_OR_SCORE.search(column):
                continue  # "seconds per epoch" is a time, not a count of epochs
            if COUNT_HEADER.search(label) or COUNT_HEADER.search(column):
                yield f"{label} / {column}", cell


@pytest.mark.parametrize("name", ["results", *(f"notebooks/{c}" for c in CHAPTERS)])
def test_no_table_prints_a_float_where_an_integer_is_meant_or_a_raw_missing_value(small_book, name):
    found_counts = 0
    for header, rows in rendered_tables(small_book, name):
        for row in rows:
            for cell in row:
                assert not MISSING_SHOWN_RAW.match(cell), f"{name}: a table cell reads {cell!r}: {row}"
        for where, cell in count_cells(header, rows):
            found_counts += 1
            assert not FLOAT_FOR_INTEGER.match(cell), f"{name}: {where} reads {cell!r}"
            assert cell != "None", f"{name}: {where} reads 'None'"
            if re.fullmatch(r"\d{4,}", cell):
                pytest.fail(f"{name}: {where} reads {cell!r} without thousands separators")
    if name in {"results", "notebooks/02_building_the_lstm", "notebooks/03_training", "notebooks/05_confusion_matrix"}:
        assert found_counts, f"{name}: no count column recognised; the check would pass vacuously"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_figure_has_alt_text_that_describes_it(small_book, chapter):
    images = page(small_book, f"notebooks/{chapter}").select(".cell_output img")
    for image in images:
        alt = image.get("alt", "")
        assert len(alt.split()) >= 6 and not re.search(r"[0-9a-f]{16,}|_images/|\.png", alt), (chapter, alt)


# -- the results page covers every chapter -------------------------------------------------
def test_results_page_covers_every_chapter_and_the_runs_of_chapters_7_and_8(small_book):
    soup = page(small_book, "results")
    links = {a["href"].split("#")[0] for a in soup.find_all("a", href=True)}
    for chapter in CHAPTERS:
        assert f"notebooks/{chapter}.html" in links, f"the results page does not link {chapter}"
    text = soup.get_text(" ")
    for needle in ("Which recurrent cell?", "GRU(", "SimpleRNN(", "bidirectional LSTM(", "Dense(",
                   "LSTM on Fashion-MNIST", "LSTM on MNIST"):
        assert needle in text, needle


def test_results_page_lists_a_chapter_it_does_not_know(small_book, tmp_path):
    from rnn_mnist.book import load_profile, write_results_page

    root = tmp_path / "copy"
    shutil.copytree(small_book / "notebooks", root / "notebooks")
    (root / "book").mkdir()
    toc = yaml.safe_load((small_book / "_toc.yml").read_text())
    notebooks = [i for i, entry in enumerate(toc["chapters"]) if entry["file"].startswith("notebooks/")]
    number = len(notebooks) + 1
    toc["chapters"].insert(notebooks[-1] + 1, {"file": f"notebooks/{number:02d}_new"})
    (root / "_toc.yml").write_text(yaml.safe_dump(toc))
    source = json.loads((root / "notebooks/08_beyond_digits.ipynb").read_text())
    source["cells"][1]["source"] = ["# A chapter it does not know\n"]
    (root / f"notebooks/{number:02d}_new.ipynb").write_text(json.dumps(source))
    page_text = write_results_page(root, load_profile(ROOT, "small")).read_text()
    assert f"[{number}. A chapter it does not know](notebooks/{number:02d}_new.ipynb)" in page_text
    assert "GRU(" in page_text and "LSTM on Fashion-MNIST" in page_text
