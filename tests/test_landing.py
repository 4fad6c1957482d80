"""The intro page's landing figure: drawn from a stored run, deterministic, written by the build, shown by the intro."""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.image  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from rnn_mnist import book, landing  # noqa: E402
from rnn_mnist.config import book_recipe  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    from rnn_mnist.runs import ensure_trained

    config = book_recipe(epochs=1, units=4, train_size=300, validation_size=100, test_size=200)
    return ensure_trained(config, tmp_path_factory.mktemp("runs"), verbose=0)


def test_the_figure_of_a_stored_run_is_a_png_of_the_expected_size_and_deterministic(tiny_run, tmp_path):
    first = landing.save_landing_figure(tiny_run, tmp_path / "a" / "landing.png")
    second = landing.save_landing_figure(tiny_run, tmp_path / "b" / "landing.png")
    data = first.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    assert data == second.read_bytes()
    width, height = (round(inches * landing.DPI) for inches in landing.FIGSIZE)
    assert matplotlib.image.imread(first).shape[:2] == (height, width)
    assert not list((tmp_path / "a").glob("*.partial"))


def test_the_figure_shows_a_correctly_named_digit_revealed_and_its_probabilities(tiny_run):
    fig = landing.landing_figure(tiny_run)
    image_axes, bar_axes = fig.axes[:7], fig.axes[7:]
    assert [ax.get_title() for ax in image_axes] == [f"{k} rows read" for k in (4, 8, 12, 16, 20, 24, 28)]
    true = int(re.match(r"A (\d) from the test set", fig.texts[0].get_text()).group(1))
    last = bar_axes[-1]
    heights = [bar.get_height() for bar in last.patches]
    assert len(heights) == 10 and sum(heights) == pytest.approx(1, abs=1e-5)
    assert int(np.argmax(heights)) == true  # picked among the digits the model names correctly
    assert last.patches[true].get_facecolor()[:3] == matplotlib.colors.to_rgb(landing.TRUE_COLOR)
    revealed = np.ma.getmaskarray(image_axes[0].images[0].get_array())
    assert not revealed[:4].any() and revealed[4:].all()  # rows past the 4th are hidden
    plt.close(fig)


def test_pick_example_is_deterministic_and_picks_only_right_answers():
    y_true = np.array([0, 1, 2, 3, 4, 5, 6, 7])
    y_pred = np.array([0, 9, 2, 9, 4, 9, 6, 9])
    picks = {landing.pick_example(y_true, y_pred, seed) for seed in range(20)}
    assert picks <= {0, 2, 4, 6} and len(picks) > 1
    assert landing.pick_example(y_true, y_pred, 3) == landing.pick_example(y_true, y_pred, 3)
    with pytest.raises(ValueError, match="names no test image correctly"):
        landing.pick_example(y_true, (y_true + 1) % 10, 0)


@pytest.mark.parametrize("p, text", [(0.114, "11%"), (0.987, "98%"), (0.9996, "99.9%"), (1.0, "100.0%")])
def test_probabilities_are_rounded_down(p, text):
    assert landing.floor_percent(p) == text


def test_plot_landing_refuses_probabilities_of_the_wrong_shape():
    with pytest.raises(ValueError, match=r"row_probabilities must have shape \(28, 10\)"):
        landing.plot_landing(np.zeros((28, 28)), np.zeros((27, 10)), 3)


def test_write_landing_figure_uses_the_profiles_book_run(tmp_path, monkeypatch, tiny_run):
    import rnn_mnist.runs

    asked = []
    monkeypatch.setattr(rnn_mnist.runs, "ensure_trained", lambda config: asked.append(config) or tiny_run)
    path = landing.write_landing_figure(tmp_path, {"epochs": 2, "train_size": 2000, "test_size": 1000, "units": 7})
    assert path == tmp_path / "book" / "_static" / "landing.png" and path.read_bytes().startswith(PNG_SIGNATURE)
    assert asked == [book_recipe(epochs=2, train_size=2000, test_size=1000)]


def test_the_build_writes_the_figure_after_every_chapter(monkeypatch):
    steps = []
    monkeypatch.setattr(book, "execute_chapter", lambda root, name, parameters, progress_bar=True: steps.append(name))
    monkeypatch.setattr(book, "write_results_page", lambda root, values: steps.append("results"))
    monkeypatch.setattr(landing, "write_landing_figure", lambda root, values: steps.append(("landing", values)))
    book.build_book(ROOT, profile="small", build_html_site=False, jobs=1)
    assert steps[-1] == ("landing", book.load_profile(ROOT, "small"))
    assert steps[: len(book.chapter_names(ROOT))] == book.chapter_names(ROOT)


def test_the_intro_shows_the_figure_with_alt_text_and_a_caption():
    intro = (ROOT / "book" / "intro.md").read_text()
    figure = re.search(r"```\{figure\} (\S+)\n(.*?)```", intro, re.DOTALL)
    assert figure, "book/intro.md has no figure directive"
    assert ROOT / "book" / figure.group(1) == ROOT / landing.LANDING_FIGURE
    options = dict(re.findall(r"^:(\w+): (.+)$", figure.group(2), re.MULTILINE))
    assert len(options["alt"]) > 80
    caption = "\n".join(line for line in figure.group(2).splitlines() if line and not line.startswith(":"))
    assert "correctly" in caption and "row 28" in caption
    assert landing.LANDING_FIGURE.as_posix() in (ROOT / ".gitignore").read_text().splitlines()
