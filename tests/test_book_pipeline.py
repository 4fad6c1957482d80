"""The book pipeline's own logic, on tiny notebooks (no training)."""

import nbformat
import pytest

from rnn_mnist.book import (
    ChapterExecutionError,
    chapter_names,
    execute_chapter,
    execute_chapters,
    load_profile,
    parameters_for,
    sync_nbmake_mocks,
)


def make_book(root, cells_by_chapter, profiles="full: {}\nsmall:\n  epochs: 2\n  train_size: 100\n"):
    (root / "notebooks").mkdir(parents=True)
    (root / "book").mkdir()
    toc = "format: jb-book\nroot: intro\nchapters:\n"
    for name, cells in cells_by_chapter.items():
        notebook = nbformat.v4.new_notebook()
        notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        notebook.cells = cells
        nbformat.write(notebook, root / "notebooks" / f"{name}.ipynb")
        toc += f"  - file: notebooks/{name}\n"
    (root / "_toc.yml").write_text(toc + "  - file: results\n")
    (root / "notebooks" / "parameters.yml").write_text(profiles)
    return root


def parameters_cell(source):
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["tags"] = ["parameters"]
    return cell


def test_chapters_follow_the_toc_order(tmp_path):
    root = make_book(tmp_path, {"02_b": [parameters_cell("epochs = None")], "01_a": [parameters_cell("seed = 0")]})
    assert chapter_names(root) == ["02_b", "01_a"]


def test_unknown_profile_lists_the_known_ones(tmp_path):
    root = make_book(tmp_path, {"01_a": [parameters_cell("epochs = None")]})
    with pytest.raises(ValueError, match="'huge'.*full, small"):
        load_profile(root, "huge")


def test_a_chapter_gets_only_the_parameters_it_declares(tmp_path):
    root = make_book(tmp_path, {"01_a": [parameters_cell("epochs = None\nseed = 0")]})
    assert parameters_for(root / "notebooks/01_a.ipynb", {"epochs": 2, "train_size": 100}) == {"epochs": 2}


def test_sync_mocks_writes_the_small_profile(tmp_path):
    root = make_book(tmp_path, {"01_a": [parameters_cell("epochs = None\nbatch_size = None")],
                                "02_b": [parameters_cell("train_size = None")]})
    assert sync_nbmake_mocks(root) == ["01_a", "02_b"]
    cell = nbformat.read(root / "notebooks/01_a.ipynb", as_version=4).cells[0]
    assert cell.metadata["nbmake"]["mock"] == {"epochs": 2}
    assert cell.metadata["tags"] == ["parameters"]
    assert sync_nbmake_mocks(root) == []


def test_a_failing_chapter_names_itself_and_the_cell(tmp_path):
    root = make_book(
        tmp_path,
        {"01_a": [parameters_cell("epochs = None"), nbformat.v4.new_code_cell("raise ValueError('bad epochs')")]},
    )
    with pytest.raises(ChapterExecutionError, match=r"Chapter 01_a failed in cell 2 .*ValueError: bad epochs"):
        execute_chapter(root, "01_a", {"epochs": 3})
    assert not (root / "book/notebooks/01_a.ipynb").exists(), "no executed copy of a failed chapter"


def test_an_executed_chapter_carries_the_injected_parameters(tmp_path):
    root = make_book(tmp_path, {"01_a": [parameters_cell("epochs = None"), nbformat.v4.new_code_cell("print(epochs)")]})
    executed = nbformat.read(execute_chapter(root, "01_a", {"epochs": 3}), as_version=4)
    assert executed.cells[-1].outputs[0]["text"].strip() == "3"


def test_chapters_executed_two_at_a_time_keep_the_toc_order_in_their_timings(tmp_path):
    cells = {name: [parameters_cell("epochs = None"), nbformat.v4.new_code_cell(f"print('{name}', epochs)")]
             for name in ("02_b", "01_a", "03_c")}
    root = make_book(tmp_path, cells)
    timings = execute_chapters(root, {"epochs": 4}, jobs=2)
    assert list(timings) == ["02_b", "01_a", "03_c"] and all(seconds > 0 for seconds in timings.values())
    for name in cells:
        executed = nbformat.read(root / "book/notebooks" / f"{name}.ipynb", as_version=4)
        assert executed.cells[-1].outputs[0]["text"].strip() == f"{name} 4"


def test_a_failing_chapter_among_parallel_ones_fails_the_build_and_names_itself(tmp_path):
    root = make_book(tmp_path, {
        "01_a": [parameters_cell("epochs = None"), nbformat.v4.new_code_cell("print('fine')")],
        "02_b": [parameters_cell("epochs = None"), nbformat.v4.new_code_cell("raise ValueError('bad epochs')")],
    })
    with pytest.raises(ChapterExecutionError, match=r"Chapter 02_b failed in cell 1 .*ValueError: bad epochs"):
        execute_chapters(root, {}, jobs=2)
    assert not (root / "book/notebooks/02_b.ipynb").exists()


def test_a_parameter_the_chapter_does_not_declare_is_refused_before_papermill_runs(tmp_path):
    root = make_book(tmp_path, {"01_a": [parameters_cell("epochs = None\nseed = 0"), nbformat.v4.new_code_cell("1")]})
    with pytest.raises(ValueError, match=r"^chapter 01_a has no parameter 'epoch'; its parameters are epochs, seed$"):
        execute_chapter(root, "01_a", {"epoch": 3})
    assert not (root / "book/.executing").exists() and not (root / "book/notebooks").exists()


def test_every_profile_of_the_book_passes_its_check():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    assert load_profile(root, "small")["epochs"] == 2 and load_profile(root, "full") == {}
