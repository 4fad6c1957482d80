"""Notebook hygiene: what is stored in notebooks/ and how it matches the book's configuration."""

import json
import re
import shlex
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import nbformat
import pytest
import yaml

from rnn_mnist.book import chapter_names, load_profile, parameters_for, toc_entries

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
CHAPTER_FRAME = ("Overview", "Prerequisites", "Time to learn", "Imports", "Summary", "What's next")


def read(path):
    return nbformat.read(path, as_version=4)


def test_there_are_chapters():
    assert len(NOTEBOOKS) >= 6


def test_every_notebook_is_in_the_toc_and_every_toc_chapter_exists():
    assert sorted(chapter_names(ROOT)) == sorted(p.stem for p in NOTEBOOKS)
    for entry in toc_entries(ROOT):
        if not entry.startswith("notebooks/") and entry != "results":
            assert (ROOT / "book" / f"{entry}.md").is_file(), entry


def test_book_config_and_toc_are_the_top_level_files():
    for name in ("_config.yml", "_toc.yml"):
        link = ROOT / "book" / name
        assert link.is_symlink() and link.resolve() == (ROOT / name).resolve()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_stored_without_outputs_or_execution_counts(path):
    for index, cell in enumerate(read(path).cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name} cell {index} stores outputs"
            assert cell.execution_count is None, f"{path.name} cell {index} stores an execution count"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_exactly_one_parameters_cell_with_the_common_names(path):
    cells = [c for c in read(path).cells if "parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1
    for name in ("recipe_name", "epochs", "batch_size", "train_size", "test_size", "seed"):
        assert re.search(rf"^{name}\s*=", cells[0].source, re.MULTILINE), f"{path.name} lacks {name}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_nbmake_runs_on_the_small_profile(path):
    """`rnn-mnist sync-mocks` keeps these in step with notebooks/parameters.yml."""
    cell = next(c for c in read(path).cells if "parameters" in c.metadata.get("tags", []))
    assert cell.metadata.get("nbmake", {}).get("mock") == parameters_for(path, load_profile(ROOT, "small"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_first_cell_installs_the_package_from_the_configured_repository(path):
    first = read(path).cells[0]
    if first.cell_type != "code":
        first = next(c for c in read(path).cells if c.cell_type == "code")
    url = CONFIG["repository"]["url"]
    assert f'REPOSITORY_URL = "{url}"' in first.source
    assert f"git+{url}@{CONFIG['repository']['branch']}" in first.source
    assert "import rnn_mnist" in first.source


def pip_lines(path):
    """Run a chapter's first cell in IPython; return the lines its %pip magic received.

    `%pip` is replaced by a recorder, so nothing is installed; IPython expands the cell's {variables}
    in the line as it does in Colab.
    """
    from IPython.core.interactiveshell import InteractiveShell

    lines = []
    shell = InteractiveShell.instance()
    try:
        shell.register_magic_function(lines.append, "line", "pip")
        shell.run_cell(read(path).cells[0].source).raise_error()
    finally:
        InteractiveShell.clear_instance()
    return lines


def pip_words(path):
    lines = pip_lines(path)
    assert len(lines) == 1, f"{path.name}: the first cell ran %pip {len(lines)} times, expected once"
    return shlex.split(lines[0])


@pytest.fixture
def fresh_runtime(monkeypatch):
    """`import rnn_mnist` and `import onnxruntime` raise ImportError, as before the install cell in Colab."""
    for module in ("rnn_mnist", "onnxruntime"):
        monkeypatch.setitem(sys.modules, module, None)
    return monkeypatch


def installed_pins():
    pins = []
    for name in ("tensorflow", "keras", "numpy", "protobuf"):
        try:
            pins.append(f"{name}=={version(name)}")
        except PackageNotFoundError:
            pass
    return pins


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_install_cell_installs_from_the_repository_beside_pins_of_what_is_installed(path, fresh_runtime):
    """Issue 20: an extra must not move protobuf (or TensorFlow's other pins) past what TensorFlow accepts."""
    fresh_runtime.delenv("RNN_MNIST_INSTALL_FROM", raising=False)
    words = pip_words(path)
    extra = "[onnx]" if path.stem.startswith("09_") else ""
    url = CONFIG["repository"]["url"]
    assert words[:3] == ["install", "--quiet", f"rnn-mnist{extra} @ git+{url}@{CONFIG['repository']['branch']}"]
    assert words[3:] == installed_pins()
    assert "tensorflow" in " ".join(words[3:]), "this test environment should have TensorFlow to pin"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_install_cell_installs_from_the_checkout_named_by_rnn_mnist_install_from(path, fresh_runtime):
    """scripts/test-colab-stack.sh points every chapter's own install cell at the checkout this way."""
    fresh_runtime.setenv("RNN_MNIST_INSTALL_FROM", str(ROOT))
    words = pip_words(path)
    extra = "[onnx]" if path.stem.startswith("09_") else ""
    assert words[:3] == ["install", "--quiet", f"rnn-mnist{extra} @ {ROOT.as_uri()}"]
    assert words[3:] == installed_pins()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_install_cell_installs_nothing_when_the_package_is_there(path):
    pytest.importorskip("onnxruntime")
    assert pip_lines(path) == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_chapter_has_the_book_frame(path):
    headings = "\n".join(c.source for c in read(path).cells if c.cell_type == "markdown")
    for section in CHAPTER_FRAME:
        assert re.search(rf"^#+ .*{re.escape(section)}", headings, re.MULTILINE | re.IGNORECASE), (
            f"{path.name} lacks a '{section}' section"
        )


ALLOWED_IMPORTS = {"math", "rnn_mnist", "numpy", "pandas", "matplotlib", "sklearn", "keras", "tensorflow", "IPython"}
# Chapter 9: pathlib and time (standard library) and ONNX Runtime (the package's "onnx" extra, which its first cell installs).
ALLOWED_IMPORTS |= {"pathlib", "time", "onnxruntime"}
# The Colab install cell (standard library): os for RNN_MNIST_INSTALL_FROM, importlib.metadata for the pins.
ALLOWED_IMPORTS |= {"os", "importlib"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_imports_only_what_the_package_or_colab_provides(path):
    source = "\n".join(c.source for c in read(path).cells if c.cell_type == "code")
    modules = re.findall(r"^\s*(?:from|import)\s+([A-Za-z_][\w]*)", source, re.MULTILINE)
    assert set(modules) <= ALLOWED_IMPORTS, set(modules) - ALLOWED_IMPORTS


def test_notebooks_are_valid_nbformat():
    for path in NOTEBOOKS:
        nbformat.validate(read(path))
        assert json.loads(path.read_text())["metadata"]["kernelspec"]["name"] == "python3"
