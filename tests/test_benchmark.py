"""The pure logic of benchmarks/time_to_accuracy.py, on synthetic per-epoch records (no training)."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import pytest

BENCHMARK = Path(__file__).resolve().parents[1] / "benchmarks" / "time_to_accuracy.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("time_to_accuracy", BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def records(accuracies, seconds):
    return [{"epoch": i + 1, "train_seconds": s, "test_accuracy": a}
            for i, (a, s) in enumerate(zip(accuracies, seconds))]


def run(bench, side, repeat, accuracies, seconds, peak=1000.0):
    return bench.summarize_run(side, repeat, records(accuracies, seconds), 0.988, peak_rss_mb=peak)


def test_time_to_threshold_sums_training_seconds_through_the_first_epoch_that_reaches_it(bench):
    recs = records([0.95, 0.985, 0.988, 0.99], [12.0, 10.0, 10.5, 9.0])
    assert bench.time_to_threshold(recs, 0.988) == (3, pytest.approx(32.5))


def test_time_to_threshold_uses_the_first_crossing_even_if_accuracy_drops_later(bench):
    recs = records([0.989, 0.97, 0.991], [5.0, 5.0, 5.0])
    assert bench.time_to_threshold(recs, 0.988) == (1, 5.0)


def test_time_to_threshold_is_none_when_never_reached(bench):
    assert bench.time_to_threshold(records([0.9, 0.98], [1.0, 1.0]), 0.988) == (None, None)
    assert bench.time_to_threshold([], 0.988) == (None, None)


def test_median_counts_unreached_runs_as_infinitely_slow(bench):
    assert bench.median_or_none([3.0, 1.0, 2.0]) == 2.0
    assert bench.median_or_none([1.0, None, 2.0]) == 2.0
    assert bench.median_or_none([1.0, None, None]) is None
    assert bench.median_or_none([1.0, None]) is None
    assert bench.median_or_none([]) is None


def test_summarize_run_reports_the_median_epoch_and_final_accuracy(bench):
    r = run(bench, "seed", 0, [0.96, 0.98, 0.989, 0.987], [14.0, 10.0, 11.0, 10.0])
    assert (r["epochs_to_threshold"], r["seconds_to_threshold"]) == (3, 35.0)
    assert r["final_accuracy"] == 0.987 and r["best_accuracy"] == 0.989
    assert r["seconds_per_epoch"] == 10.5
    assert r["train_seconds"] == 45.0
    assert r["epochs_run"] == 4


def test_ratio_is_median_project_over_median_seed_with_paired_ratios(bench):
    runs = [
        run(bench, "seed", 0, [0.98, 0.989], [50.0, 50.0]),        # 100 s
        run(bench, "project", 0, [0.99, 0.993], [20.0, 10.0]),     # 20 s
        run(bench, "seed", 1, [0.98, 0.98, 0.99], [40.0, 40.0, 40.0]),  # 120 s
        run(bench, "project", 1, [0.98, 0.994], [12.0, 12.0]),     # 24 s
        run(bench, "seed", 2, [0.989], [90.0]),                    # 90 s
        run(bench, "project", 2, [0.985, 0.99, 0.992], [9.0, 9.0, 9.0]),  # 18 s
    ]
    summary = bench.summarize(runs)
    assert summary["sides"]["seed"]["median_seconds_to_threshold"] == 100.0
    assert summary["sides"]["project"]["median_seconds_to_threshold"] == 20.0
    assert summary["ratio"] == pytest.approx(0.2)
    assert summary["paired_ratios"] == pytest.approx([0.2, 0.2, 0.2])
    assert summary["targets"]["ratio"]["met"]
    assert summary["targets"]["project_final_accuracy"]["met"]  # 0.992 is enough
    assert summary["targets"]["peak_rss_mb"]["met"]
    # the seed stopped early, so its 10 epochs are estimated from its median epoch
    assert summary["seed_10_epoch_seconds"] == pytest.approx(10 * 50.0)  # median epoch of the runs: 50, 40, 90 s
    assert summary["all_targets_met"]


def test_targets_report_misses(bench):
    runs = [
        run(bench, "seed", 0, [0.989], [10.0], peak=4000.0),
        run(bench, "project", 0, [0.99, 0.991], [3.0, 3.0]),
    ]
    summary = bench.summarize(runs)
    assert summary["ratio"] == pytest.approx(0.3)
    assert not summary["targets"]["ratio"]["met"]
    assert not summary["targets"]["project_final_accuracy"]["met"]  # 0.991 < 0.992
    assert not summary["targets"]["peak_rss_mb"]["met"]
    assert not summary["all_targets_met"]


def test_ratio_is_undefined_when_a_side_never_reaches_the_threshold(bench):
    runs = [run(bench, "seed", 0, [0.98], [10.0]), run(bench, "project", 0, [0.99], [3.0])]
    summary = bench.summarize(runs)
    assert summary["ratio"] is None and summary["paired_ratios"] == [None]
    assert not summary["targets"]["ratio"]["met"]
    text = bench.format_table({"threshold": 0.988, "runs": runs, "summary": summary})
    assert "not reached" in text and "undefined" in text and "MISSED" in text


def test_table_and_json_line_round_trip(bench):
    runs = [run(bench, "seed", 0, [0.989], [10.0]), run(bench, "project", 0, [0.993], [1.5])]
    result = {"threshold": 0.988, "runs": runs, "summary": bench.summarize(runs)}
    text = bench.format_table(result)
    assert "ratio project/seed" in text and "0.150" in text
    line = json.dumps(result, sort_keys=True, separators=(",", ":"))
    assert "\n" not in line and json.loads(line)["summary"]["ratio"] == pytest.approx(0.15)
    assert not math.isinf(json.loads(line)["summary"]["sides"]["seed"]["median_seconds_to_threshold"])


def test_arguments_quick_mode_shrinks_everything(bench):
    args = bench.parse_args(["--quick"])
    assert (args.repeats, args.train_size, args.test_size, args.project_epochs, args.seed_epochs) == (
        1, 3000, 1000, 2, 2)
    full = bench.parse_args([])
    assert (full.repeats, full.threshold, full.seed_epochs, full.train_size) == (3, 0.988, 10, None)
    with pytest.raises(SystemExit):
        bench.parse_args(["--repeats", "0"])


def test_a_seed_run_that_never_reaches_the_threshold_bounds_the_ratio_from_above(bench):
    ten_epochs = [0.98] * 9 + [0.987]
    runs = [
        run(bench, "seed", 0, ten_epochs, [15.0] * 10),                 # 150 s, not reached: >= 150 s
        run(bench, "project", 0, [0.98, 0.985, 0.99], [12.0, 9.0, 9.0]),  # 30 s
        run(bench, "seed", 1, [0.98] * 7 + [0.989], [15.0] * 8),        # 120 s
        run(bench, "project", 1, [0.98, 0.99], [12.0, 9.0]),            # 21 s
        run(bench, "seed", 2, ten_epochs, [16.0] * 10),                 # 160 s, not reached: >= 160 s
        run(bench, "project", 2, [0.98, 0.985, 0.99], [12.0, 9.0, 9.0]),  # 30 s
    ]
    summary = bench.summarize(runs)
    seed = summary["sides"]["seed"]
    assert seed["censored"] == 2 and seed["reached"] == 1
    assert seed["median_seconds_to_threshold"] is None            # two of three never reached it
    assert seed["median_seconds_to_threshold_lower_bound"] == 150.0
    assert summary["ratio_is_upper_bound"]
    assert summary["ratio"] == pytest.approx(30.0 / 150.0)
    assert summary["paired_ratios"] == pytest.approx([30 / 150, 21 / 120, 30 / 160])
    text = bench.format_table({"threshold": 0.988, "seed_epochs": 10, "runs": runs, "summary": summary})
    assert "<= 0.200" in text and "lower bound" in text


def test_seed_lower_bound_needs_all_its_epochs(bench):
    stopped_early = run(bench, "seed", 0, [0.98, 0.985], [15.0, 15.0])
    assert bench.seed_seconds_lower_bound(stopped_early) is None
    reached = run(bench, "seed", 0, [0.98, 0.99], [15.0, 15.0])
    assert bench.seed_seconds_lower_bound(reached) == 30.0


def test_epochs_that_waited_for_their_data_iterator_are_counted_after_the_first(bench):
    recs = records([0.97, 0.98, 0.985, 0.99], [13.0, 19.0, 9.0, 19.5])
    for record, wait in zip(recs, [3.4, 10.1, 0.05, 10.0]):
        record["epoch_start_seconds"] = wait
    r = bench.summarize_run("seed", 0, recs, 0.988)
    # epoch 1's start builds the pipeline and is not a wait; epochs 2 and 4 waited
    assert r["epoch_start_waits"] == 2
    assert r["epoch_start_wait_seconds"] == pytest.approx(20.1)
    text = bench.format_table({"threshold": 0.988, "runs": [r], "summary": bench.summarize([r])})
    assert "waited > 2 s for their data iterator" in text and "seed 2 epochs, 20 s" in text
    assert "project 0 epochs, 0 s" in text


def test_the_ratio_without_waits_takes_them_out_of_both_sides(bench):
    def waited(side, repeat, accuracies, seconds, starts):
        recs = records(accuracies, seconds)
        for record, start in zip(recs, starts):
            record["epoch_start_seconds"] = start
        return bench.summarize_run(side, repeat, recs, 0.988)

    ten = [0.98] * 10
    runs = [
        # the seed never gets there: 10 x 15 s, two of its epochs waited 10 s
        waited("seed", 0, ten, [15.0] * 10, [3.0, 10.0, 0.1, 0.1, 10.0, 0.1, 0.1, 0.1, 0.1, 0.1]),
        # the project gets there in epoch 3 (40 s), and its epoch 2 waited 10 s
        waited("project", 0, [0.97, 0.985, 0.99], [12.0, 19.0, 9.0], [3.0, 10.0, 0.1]),
    ]
    assert runs[1]["seconds_to_threshold_without_waits"] == pytest.approx(30.0)
    assert runs[0]["train_seconds_without_waits"] == pytest.approx(130.0)
    summary = bench.summarize(runs)
    assert summary["ratio"] == pytest.approx(40.0 / 150.0)
    assert summary["ratio_without_epoch_start_waits"] == pytest.approx(30.0 / 130.0)
    text = bench.format_table({"threshold": 0.988, "runs": runs, "summary": summary})
    assert "taken out of both sides: <= 0.231" in text
