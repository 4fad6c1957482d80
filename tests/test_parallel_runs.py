"""Training the book's runs in worker processes before the chapters execute (rnn_mnist.lab.parallel_runs)."""

from __future__ import annotations

import numpy as np
import pytest

from rnn_mnist import book
from rnn_mnist.comparison import comparison_base, comparison_configs
from rnn_mnist.config import book_recipe, seed_recipe
from rnn_mnist.lab import parallel_runs
from rnn_mnist.runs import check_run, ensure_trained, run_dir_for

ROOT = book.repository_root()


def test_the_runs_the_full_book_reads_are_each_listed_once():
    configs = book.runs_the_chapters_read(ROOT, book.load_profile(ROOT, "full"))
    ids = [config.run_id() for config in configs]
    assert len(ids) == len(set(ids))
    expected = [book_recipe(), seed_recipe(), *comparison_configs(comparison_base("book")).values(),
                comparison_base("book", dataset="fashion_mnist")]
    assert {config.run_id() for config in expected} <= set(ids)
    assert len(ids) == len({config.run_id() for config in expected} | {comparison_base("book", dataset="mnist").run_id()})


def test_the_small_profile_lists_small_runs():
    configs = book.runs_the_chapters_read(ROOT, book.load_profile(ROOT, "small"))
    assert configs and all(config.effective_train_size == 2000 and config.epochs == 2 for config in configs)


def test_longest_runs_are_estimated_longest():
    seed, book_run = seed_recipe(), book_recipe()
    chapter_seven = list(comparison_configs(comparison_base("book")).values())
    assert parallel_runs.estimated_cost(seed) > parallel_runs.estimated_cost(book_run)
    assert all(parallel_runs.estimated_cost(book_run) > parallel_runs.estimated_cost(c) for c in chapter_seven)


def test_nothing_starts_when_every_run_is_stored(monkeypatch, tmp_path):
    monkeypatch.setenv("RNN_MNIST_RUNS", str(tmp_path))
    config = book_recipe(train_size=200, test_size=100, epochs=1)
    monkeypatch.setattr(parallel_runs, "ProcessPoolExecutor", None)  # would fail if a pool were started
    monkeypatch.setattr("rnn_mnist.runs.find_run", lambda config: object())  # every run is stored
    assert parallel_runs.train_runs([config, config]) == []


def test_workers_must_be_positive():
    with pytest.raises(ValueError, match="workers must be at least 1, got 0"):
        parallel_runs.train_runs([book_recipe()], workers=0)


def test_runs_trained_side_by_side_are_stored_and_equal_to_one_trained_here(monkeypatch, tmp_path, mnist):
    monkeypatch.setenv("RNN_MNIST_RUNS", str(tmp_path / "side_by_side"))
    configs = [book_recipe(train_size=300, test_size=100, epochs=1, seed=seed) for seed in (0, 1)]
    trained = parallel_runs.train_runs(configs + configs[:1], workers=2)
    assert sorted(result.run_id for result in trained) == sorted(config.run_id() for config in configs)
    assert all(result.trained_now and result.seconds > 0 for result in trained)
    assert all(check_run(run_dir_for(config), config).ok for config in configs)
    assert parallel_runs.train_runs(configs, workers=2) == []  # stored now: nothing trains again

    here = ensure_trained(configs[0], tmp_path / "here", verbose=0)
    there = ensure_trained(configs[0], verbose=0)
    assert not there.trained_now
    for ours, theirs in zip(here.load_model().get_weights(), there.load_model().get_weights()):
        np.testing.assert_array_equal(ours, theirs)


def test_a_run_that_fails_in_its_worker_is_named(monkeypatch, tmp_path):
    not_a_folder = tmp_path / "runs"
    not_a_folder.write_text("a file where the runs folder should be")
    monkeypatch.setenv("RNN_MNIST_RUNS", str(not_a_folder))
    config = book_recipe(train_size=300, test_size=100, epochs=1)
    with pytest.raises(RuntimeError, match=rf"training run {config.run_id()} failed: .*runs"):
        parallel_runs.train_runs([config], workers=1)
    assert not_a_folder.read_text() == "a file where the runs folder should be"


def test_the_book_build_trains_the_runs_before_any_chapter(monkeypatch):
    steps = []
    monkeypatch.setattr(parallel_runs, "train_runs", lambda configs, workers: steps.append(("train", workers)) or [])
    monkeypatch.setattr(book, "execute_chapters", lambda root, values, jobs: steps.append(("chapters", jobs)) or {})
    monkeypatch.setattr(book, "write_results_page", lambda root, values: steps.append("results"))
    monkeypatch.setattr(book, "write_intro_figure", lambda root, values: steps.append("figure"))
    book.build_book(ROOT, profile="small", build_html_site=False, jobs=2)
    assert steps == [("train", 2), ("chapters", 2), "results", "figure"]
    steps.clear()
    book.build_book(ROOT, profile="small", build_html_site=False, jobs=1)
    assert steps == [("chapters", 1), "results", "figure"]
