"""The measurements chapter 3 quotes from other machines: current, and saying what the prose says."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from rnn_mnist import measured

ROOT = Path(__file__).resolve().parents[1]


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def test_the_packaged_measurements_are_what_the_summary_script_makes_of_docs_results(tmp_path, monkeypatch):
    summarize = load_script("summarize_measurements")
    monkeypatch.setattr(summarize, "OUTPUT", tmp_path / "measurements.json")
    summarize.main()
    assert json.loads((tmp_path / "measurements.json").read_text()) == measured.load_measurements(), (
        "src/rnn_mnist/measurements.json is stale: run python benchmarks/summarize_measurements.py")


def test_the_gpu_figures_name_their_machine_date_and_versions_and_match_chapter_3():
    gpu = measured.load_measurements()["gpu_benchmark"]
    assert gpu["device"] == "NVIDIA H200" and gpu["measured"].startswith("2026-12-04")
    assert gpu["versions"]["keras"] and gpu["versions"]["jax"] and gpu["backend"] == "jax"
    # chapter 3: "about 1.2 s" an epoch against "about 5.6 s"; "about 9 s" to 98.8%; seed "at least ... about 53 s"
    assert gpu["book"]["seconds_per_epoch"] == pytest.approx(1.2, abs=0.05)
    assert gpu["seed"]["seconds_per_epoch"] == pytest.approx(5.6, abs=0.05)
    assert gpu["book"]["seconds_to_threshold"] == pytest.approx(9, abs=0.5)
    assert gpu["seed"]["seconds_to_threshold"] is None and gpu["seed"]["repeats_reaching_threshold"] == 1
    assert gpu["seed"]["seconds_to_threshold_lower_bound"] == pytest.approx(53, abs=0.5)
    assert gpu["ratio_is_upper_bound"] and gpu["ratio"] == pytest.approx(0.16, abs=0.005)
    assert gpu["steps_per_execution"] == 16
    assert min(gpu["book"]["final_test_accuracy"]) >= 0.992


def test_the_recipe_choice_read_validation_only_and_says_what_chapter_3_says():
    choice = measured.load_measurements()["recipe_choice"]
    gpu = measured.recipe_choice_table(choice["h200_jax"], baseline="the book's recipe")
    difference = "difference from the book's recipe (points)"
    assert gpu.index[0] == "the book's recipe" and set(gpu["seeds"]) <= {2, 5}
    assert gpu.loc["without random shifts", difference] == pytest.approx(-0.12, abs=0.01)
    assert gpu.loc["without the weight average", difference] == pytest.approx(0.10, abs=0.01)
    assert gpu.loc["without gradient clipping", difference] == pytest.approx(-0.04, abs=0.01)
    assert gpu.loc["batch 256", difference] == pytest.approx(-0.24, abs=0.01)
    epochs = "epochs to 98.8% validation, mean"
    assert gpu.loc["the book's recipe", epochs] == pytest.approx(3.8) and gpu.loc["without the weight average", epochs] == pytest.approx(4.8)
    assert gpu.loc["batch 256", "highest"] < gpu.loc["the book's recipe", "lowest"]  # "both of its seeds ended lower"
    cpu = measured.recipe_choice_table(choice["cpu_tensorflow"], baseline="random shifts by recipe.RandomShift (the book's recipe)")
    assert cpu.loc["without random shifts", difference] < 0  # "the direction ... the same"
    assert (cpu["seeds"] == 3).all()
    for evidence in choice.values():
        assert "test" not in json.dumps(evidence["variants"])  # validation only


def test_no_part_of_the_recipe_costs_more_than_a_fifth_of_a_step_on_any_machine_measured():
    table = measured.step_cost_table(steps_per_execution=1)
    assert set(table.columns.get_level_values("machine")) >= {"h200_jax", "cpu_tensorflow"}
    assert (table["x the plainest"].max() <= 1.2).all()
    rows = {(row["variant"], row["steps_per_execution"]): row["ms_per_step"]
            for row in measured.load_measurements()["step_cost"]["h200_jax"]["table"]}
    book = "the book's recipe (shifts and weight average)"
    assert rows[(book, 1)] == pytest.approx(3.4, abs=0.05) and rows[(book, 16)] == pytest.approx(2.8, abs=0.05)


def test_recipe_choice_summary_pairs_seeds_and_finds_the_first_epoch_over_the_threshold():
    choice = load_script("recipe_choice")
    assert choice.first_epoch_reaching([0.97, 0.987, 0.988, 0.99], 0.988) == 3
    assert choice.first_epoch_reaching([0.97], 0.988) is None
    paired = choice.paired_difference({0: 0.991, 1: 0.990, 2: 0.5}, {0: 0.990, 1: 0.990})
    assert paired["seeds"] == [0, 1] and paired["mean"] == pytest.approx(0.0005)
    results = [{"variant": v, "seed": s, "val_accuracy": [0.98, acc], "epoch_seconds": [2.0, 1.0]}
               for v, s, acc in [("the book's recipe", 0, 0.990), ("the book's recipe", 1, 0.992),
                                 ("batch 256", 0, 0.985), ("batch 256", 1, 0.989)]]
    summary = choice.summarize(results, ["the book's recipe", "batch 256"], 0.988)
    assert summary["the book's recipe"]["difference_from_baseline"] is None
    assert summary["batch 256"]["difference_from_baseline"]["mean"] == pytest.approx(-0.004)
    assert summary["the book's recipe"]["epoch_reaching_threshold"] == [2, 2]
    assert summary["batch 256"]["epoch_reaching_threshold"] == [None, 2]
