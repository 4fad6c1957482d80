"""The "Draw a digit" page in a real browser (small profile).

The page (book/draw.md, book/_static/draw/*.mjs) runs the row reader that chapter 9
exports to ONNX (``_static/models/row_reader.onnx`` and ``.json``) in ONNX Runtime Web,
from the site's own copy. Debian's headless Chromium, driven by Playwright, reads the
site served under a sub-path and from the file system, as in tests/test_browser.py.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest
from browser_support import (
    PageWatch,
    SiteServer,
)

from rnn_mnist.book import load_profile
from rnn_mnist.config import TrainingConfig, config_from_parameters
from rnn_mnist.runs import find_run
from rnn_mnist.splits import scale_images

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
PAGE = "draw.html"
SIZE = 28
# Fixed test images handed to the page: the first 20 of MNIST's test set.
IMAGES = 20
TOLERANCE = 1e-4
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}

pytestmark = pytest.mark.slow


# --- fixtures ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def html_dir(chromium, small_book) -> Path:
    return small_book / "book" / "_build" / "html"


@pytest.fixture(scope="module")
def site(html_dir):
    with SiteServer(html_dir) as server:
        yield server


class Tab:
    """A fresh browser context and page; requests to any other origin are blocked and recorded."""

    def __init__(self, browser, is_local, viewport=DESKTOP):
        self.context = browser.new_context(viewport=viewport)
        self.context.set_default_timeout(60_000)
        self.watch = PageWatch(is_local)
        self.watch.block_external(self.context)
        self.page = self.context.new_page()
        self.watch.attach(self.page)

    def assert_clean(self):
        problems = self.watch.problems()
        assert not problems, "in Chromium, the page showed:\n  " + "\n  ".join(problems)
        assert self.watch.external == [], f"requests to other origins: {self.watch.external}"


@pytest.fixture
def tab(browser, site):
    start = len(site.requests)
    opened = Tab(browser, site.is_local)
    yield opened
    opened.context.close()
    assert site.outside_the_site(since=start) == []


def open_ready(tab: Tab, site: SiteServer) -> None:
    tab.page.goto(site.url(PAGE), wait_until="load")
    tab.page.wait_for_function("document.documentElement.dataset.rnnMnistModel !== undefined")
    assert tab.page.evaluate("document.documentElement.dataset.rnnMnistModel") == "ready", (
        tab.page.locator("#draw-status").inner_text()
    )


def draw(page, points: list[tuple[float, float]]) -> None:
    """One stroke through ``points`` given as fractions (x, y) of the drawing canvas."""
    box = page.locator("#draw-canvas").bounding_box()
    at = [(box["x"] + x * box["width"], box["y"] + y * box["height"]) for x, y in points]
    page.mouse.move(*at[0])
    page.mouse.down()
    for x, y in at[1:]:
        page.mouse.move(x, y, steps=8)
    page.mouse.up()


def drawn(page) -> dict:
    page.wait_for_function("window.rnnMnist && window.rnnMnist.current() !== null")
    return page.evaluate("window.rnnMnist.current()")


VERTICAL_BAR = [(0.5, 0.15), (0.5, 0.85)]
# A seven, drawn off-centre in the upper left: the preprocessing must still centre it.
SEVEN = [(0.1, 0.1), (0.55, 0.1), (0.3, 0.6)]


def centre_of_mass(image: np.ndarray) -> tuple[float, float]:
    rows, columns = np.indices(image.shape)
    return float((rows * image).sum() / image.sum()), float((columns * image).sum() / image.sum())


def bounding_box(image: np.ndarray) -> tuple[int, int]:
    rows, columns = np.nonzero(image)
    return int(rows.max() - rows.min() + 1), int(columns.max() - columns.min() + 1)


# --- the model in the browser agrees with Keras ----------------------------------------


@pytest.fixture(scope="module")
def keras_rows(html_dir, mnist):
    """Keras's probabilities after every row for the fixed images, from the run the page exports."""
    import keras

    info = json.loads((html_dir / "_static/models/row_reader.json").read_text())
    fields = {field.name for field in dataclasses.fields(TrainingConfig)}
    profile = {name: value for name, value in load_profile(ROOT, "small").items() if name in fields}
    config = config_from_parameters("book", **profile)
    assert info["run"] == config.run_id(), "the page's model is not the small book's run"
    run = find_run(config)
    assert run is not None, f"the small book's run {config.run_id()} is not stored"
    trained = run.load_model()
    lstm = next(layer for layer in trained.layers if isinstance(layer, keras.layers.LSTM))
    dense = trained.layers[-1]
    # The row reader: the same trained layers, reading any number of rows, answering after each.
    inputs = keras.Input(shape=(None, SIZE))
    recurrent = keras.layers.LSTM(lstm.units, return_sequences=True)
    classifier = keras.layers.Dense(dense.units, activation="softmax")
    reader = keras.Model(inputs, classifier(recurrent(inputs)))
    recurrent.set_weights(lstm.get_weights())
    classifier.set_weights(dense.get_weights())
    images = scale_images(mnist.x_test[:IMAGES])
    return images, reader.predict(images, verbose=0)


def test_the_page_reproduces_keras_after_rows_14_and_28(tab, site, keras_rows):
    images, expected = keras_rows
    open_ready(tab, site)
    got = np.asarray(
        tab.page.evaluate("images => window.rnnMnist.probabilitiesFor(images)", images.reshape(IMAGES, -1).tolist())
    )
    assert got.shape == (IMAGES, SIZE, 10)
    for row in (14, 28):
        difference = np.abs(got[:, row - 1] - expected[:, row - 1]).max()
        assert difference <= TOLERANCE, f"after row {row}: max |browser - Keras| = {difference:.2e}"
    assert (got[:, -1].argmax(1) == expected[:, -1].argmax(1)).all()
    tab.assert_clean()


# --- drawing ---------------------------------------------------------------------------


def test_a_drawn_stroke_is_read_row_by_row_and_clear_empties_it(tab, site):
    open_ready(tab, site)
    page = tab.page
    draw(page, VERTICAL_BAR)
    current = drawn(page)
    probabilities = np.asarray(current["probabilities"])
    assert probabilities.shape == (SIZE, 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, atol=1e-4)
    page.locator("#draw-timeline button").nth(SIZE - 1).wait_for()
    assert page.locator("#draw-timeline button").count() == SIZE
    best = str(int(probabilities[-1].argmax()))
    assert page.locator("#draw-timeline button").nth(SIZE - 1).inner_text() == best
    # The slider moves the cursor: after row 14 the page shows row 14's answer.
    page.locator("#draw-rows").fill("14")
    assert "row 14 of 28" in page.locator("#draw-answer").inner_text()
    shown = float(page.locator(f"#draw-p-{probabilities[13].argmax()}").inner_text().rstrip("%"))
    assert shown == pytest.approx(100 * probabilities[13].max(), abs=0.06)

    page.locator("#draw-clear").click()
    assert page.evaluate("window.rnnMnist.current()") is None
    assert page.locator("#draw-timeline button").count() == 0
    assert page.locator("#draw-results").is_hidden()
    assert page.evaluate("window.rnnMnist.preprocess(...(() => { const c = document.getElementById('draw-canvas');"
                         " const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
                         " return [d.filter((_, i) => i % 4 === 3), c.width, c.height]; })())") is None
    draw(page, SEVEN)
    assert np.asarray(drawn(page)["probabilities"]).shape == (SIZE, 10)
    tab.assert_clean()


@pytest.mark.parametrize("stroke", [VERTICAL_BAR, SEVEN], ids=["vertical-bar", "off-centre-seven"])
def test_the_drawing_is_preprocessed_like_mnist(tab, site, stroke):
    open_ready(tab, site)
    draw(tab.page, stroke)
    image = np.asarray(drawn(tab.page)["image"], dtype=np.float32).reshape(SIZE, SIZE)
    assert image.min() >= 0 and image.max() <= 1 and image.max() > 0.5
    centre = (SIZE - 1) / 2
    row, column = centre_of_mass(image)
    assert abs(row - centre) <= 1 and abs(column - centre) <= 1, (row, column)
    height, width = bounding_box(image)
    assert height <= 20 and width <= 20 and max(height, width) >= 19, (height, width)
    tab.assert_clean()


def test_preprocessing_keeps_the_aspect_ratio(tab, site):
    # A solid 100 x 50 rectangle of ink, away from the centre of a 280 x 280 canvas, becomes 20 x 10.
    tab.page.goto(site.url(PAGE), wait_until="load")
    tab.page.wait_for_function("window.rnnMnist !== undefined")
    image = np.asarray(tab.page.evaluate("""() => {
        const ink = new Uint8ClampedArray(280 * 280);
        for (let y = 10; y < 60; y++) for (let x = 150; x < 250; x++) ink[y * 280 + x] = 255;
        return Array.from(window.rnnMnist.preprocess(ink, 280, 280));
    }""")).reshape(SIZE, SIZE)
    assert bounding_box(image) == (10, 20)
    assert image.max() == pytest.approx(1) and image.sum() == pytest.approx(200, abs=1e-3)
    row, column = centre_of_mass(image)
    assert abs(row - 13.5) <= 0.5 and abs(column - 13.5) <= 0.5


def test_a_drawn_digit_on_a_phone_sized_screen(browser, site):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    tab = Tab(browser, site.is_local, viewport=PHONE)
    try:
        open_ready(tab, site)
        page = tab.page
        box = page.locator("#draw-canvas").bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        page.locator("#draw-canvas").scroll_into_view_if_needed()
        draw(page, SEVEN)
        drawn(page)
        page.wait_for_function("document.getElementById('draw-rows').value === '28'")
        page.screenshot(path=str(SCREENSHOTS / "draw-digit-phone.png"), full_page=True)
        tab.assert_clean()
    finally:
        tab.context.close()


def test_a_drawn_digit_screenshot(tab, site):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    open_ready(tab, site)
    draw(tab.page, SEVEN)
    drawn(tab.page)
    tab.page.wait_for_function("document.getElementById('draw-rows').value === '28'")
    path = SCREENSHOTS / "draw-digit.png"  # test_browser.py saves the empty page as draw.png
    tab.page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000
    tab.assert_clean()


# --- only the site's own files ----------------------------------------------------------


def test_the_page_loads_only_the_sites_own_files(tab, site):
    requested: list[str] = []
    tab.page.on("request", lambda request: requested.append(request.url))
    open_ready(tab, site)
    draw(tab.page, VERTICAL_BAR)
    drawn(tab.page)
    paths = {urlsplit(url).path for url in requested if url.startswith("http")}
    base = f"/{site.prefix}/_static/"
    for needed in ("draw/draw.mjs", "draw/preprocess.mjs", "models/row_reader.onnx",
                   "vendor/onnxruntime-web/ort.wasm.bundle.min.mjs", "vendor/onnxruntime-web/ort-wasm-simd-threaded.wasm"):
        assert base + needed in paths, f"{needed} was not loaded from the site"
    assert not [url for url in requested if not site.is_local(url) and urlsplit(url).scheme in ("http", "https")]
    tab.assert_clean()


# --- from the file system ---------------------------------------------------------------


def test_from_the_file_system_the_page_says_how_to_serve_the_site(browser, html_dir):
    prefix = html_dir.resolve().as_uri() + "/"
    tab = Tab(browser, lambda url: url.startswith(prefix))
    try:
        tab.page.goto((html_dir / PAGE).as_uri(), wait_until="load")
        hint = tab.page.locator("#draw-file-hint")
        assert hint.is_visible()
        assert "python -m http.server -d book/_build/html" in hint.inner_text()
        assert tab.page.locator("#draw-app").is_hidden()
        tab.page.wait_for_timeout(500)
        assert tab.watch.problems() == []
    finally:
        tab.context.close()
