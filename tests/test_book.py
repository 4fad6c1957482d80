"""The built site, read as a reader meets it (small profile)."""

import json
import re
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
