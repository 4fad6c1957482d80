"""The rnn-mnist command, as a user runs it."""

import json
import subprocess
import sys

import pytest

from rnn_mnist.cli import main
from rnn_mnist.data import MNIST_ARRAY_SHA256


def rnn_mnist(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "rnn_mnist.cli", *args], capture_output=True, text=True, env=env, check=False
    )


@pytest.mark.parametrize("command", [[], ["data"], ["train"], ["book"], ["sync-mocks"]])
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
