"""The rnn-mnist command, as a user runs it."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rnn_mnist.cli import main
from rnn_mnist.data import MNIST_ARRAY_SHA256

REPO_ROOT = Path(__file__).resolve().parents[1]


def rnn_mnist(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "rnn_mnist.cli", *args], capture_output=True, text=True, env=env, check=False
    )


@pytest.mark.parametrize("command", [[], ["data"], ["train"], ["runs"], ["runs", "verify"], ["book"], ["sync-mocks"]])
def test_every_subcommand_has_help(command):
    result = rnn_mnist(*command, "--help")
    assert result.returncode == 0
    assert "usage: rnn-mnist" in result.stdout


def test_data_prints_the_four_pinned_hashes(capsys, mnist):
    assert main(["data"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("source: ")
    for name, digest in MNIST_ARRAY_SHA256.items():
        assert f"sha256={digest}" in out
    assert "x_train  shape=60000x28x28  dtype=uint8" in out
    assert "y_test   shape=10000" in out


def test_data_json(capsys, mnist):
    assert main(["data", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert {name: row["sha256"] for name, row in report["arrays"].items()} == MNIST_ARRAY_SHA256
    assert all(row["verified"] for row in report["arrays"].values())


def test_train_prints_results_and_one_json_line(capsys, tmp_path, mnist):
    args = ["train", "--epochs", "1", "--units", "8", "--train-size", "200", "--test-size", "100",
            "--run-dir", str(tmp_path), "--json"]
    assert main(args) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    result = json.loads(lines[-1])
    assert {"test_accuracy", "test_loss", "seconds_per_epoch", "run_dir"} <= set(result)
    assert result["run_dir"].startswith(str(tmp_path))
    assert result["reused_stored_run"] is False
    assert any(line.startswith("stored in") for line in lines)

    assert main(args) == 0
    again = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert again["reused_stored_run"] is True and again["test_accuracy"] == result["test_accuracy"]


def test_invalid_training_parameter_is_a_clear_error_not_a_traceback():
    result = rnn_mnist("train", "--epochs", "0")
    assert result.returncode == 2
    assert "Invalid value for 'epochs': 0" in result.stderr
    assert "Traceback" not in result.stderr


def test_train_size_above_the_pool_is_refused():
    result = rnn_mnist("train", "--train-size", "60001")
    assert result.returncode == 2
    assert "'train_size'" in result.stderr and "55000" in result.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "--epochs", "0"], "rnn-mnist train: Invalid value for 'epochs': 0."),
        (["train", "--learning-rate", "nan"], "argument --learning-rate: expected a finite number, got 'nan'"),
        (["train", "--dropout", "inf"], "argument --dropout: expected a finite number, got 'inf'"),
        (["train", "--dropout", "2"], "rnn-mnist train: Invalid value for 'dropout': 2.0."),
        (["train", "--recipe", "sead"], "argument --recipe: invalid choice: 'sead'"),
        (["train", "--epochs", "three"], "argument --epochs: expected an integer, got 'three'"),
        (["book", "--jobs", "0"], "argument --jobs: expected a whole number of at least 1, got '0'"),
    ],
)
def test_bad_arguments_are_one_line_in_under_two_seconds_without_importing_the_backend(args, message):
    started = time.perf_counter()
    result = rnn_mnist(*args)
    seconds = time.perf_counter() - started
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and message in result.stderr and "Traceback" not in result.stderr
    assert seconds < 2.0, f"{args} took {seconds:.1f} s to be rejected"
    probe = subprocess.run(
        [sys.executable, "-c", "import sys\nfrom rnn_mnist.cli import main\n"
         f"try:\n    main({args!r})\nexcept SystemExit:\n    pass\n"
         "print(sorted(m for m in ('tensorflow', 'keras', 'jax', 'torch') if m in sys.modules))"],
        capture_output=True, text=True, check=True,
    )
    assert probe.stdout.strip().splitlines()[-1] == "[]"


def test_importing_the_package_loads_no_backend_until_a_name_needs_it():
    code = ("import sys, rnn_mnist\nprint('keras' in sys.modules)\n"
            "from rnn_mnist.model import build_model\n"
            "print(rnn_mnist.build_model is build_model, 'keras' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "True", "True"]


def _write_failure_cases(tmp_path):
    a_file = tmp_path / "a-file"
    a_file.write_text("not a directory")
    return {
        "run dir is a file": (["--run-dir", str(a_file)], {}, f"the run directory {a_file} is a file, not a directory"),
        "run dir under a file": (["--run-dir", str(a_file / "runs")], {},
                                 f"the run directory {a_file / 'runs'} cannot be created: {a_file} is a file"),
        "run dir under /proc": (["--run-dir", "/proc/rnn-mnist-runs"], {},
                                "the run directory /proc/rnn-mnist-runs cannot be created"),
        "run dir in /proc": (["--run-dir", "/proc/self"], {}, "the run directory /proc/self is not writable"),
        "RNN_MNIST_HOME is a file": ([], {"RNN_MNIST_HOME": str(a_file)},
                                     f"the run directory {a_file / 'runs'} cannot be created: {a_file} is a file"),
    }


@pytest.mark.parametrize("case", ["run dir is a file", "run dir under a file", "run dir under /proc",
                                  "run dir in /proc", "RNN_MNIST_HOME is a file"])
def test_a_run_directory_that_cannot_be_written_is_one_line_and_exit_2(case, tmp_path):
    args, env_changes, message = _write_failure_cases(tmp_path)[case]
    env = {name: value for name, value in os.environ.items() if name != "RNN_MNIST_RUNS"}
    env.update(env_changes)
    result = rnn_mnist("train", "--epochs", "1", *args, env=env)
    assert result.returncode == 2
    assert result.stdout == "" and "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"rnn-mnist train: {message}")
    assert "pass --run-dir a writable directory" in result.stderr


def test_runs_verify_on_a_file_is_one_line_and_exit_2(tmp_path):
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    result = rnn_mnist("runs", "verify", "--run-dir", str(a_file))
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert f"the run directory {a_file} is a file" in result.stderr


@pytest.mark.parametrize("command", ["book", "sync-mocks"])
def test_an_unknown_profile_is_one_line_and_exit_2(command):
    result = rnn_mnist(command, "--profile", "smal", "--root", str(REPO_ROOT))
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith(f"rnn-mnist {command}: --profile: Unknown parameter profile 'smal'")
    assert "full, small" in result.stderr
