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


# -- issue 24: inputs --------------------------------------------------------------------------

def test_runs_verify_on_a_missing_run_directory_is_one_line_and_exit_2(tmp_path):
    result = rnn_mnist("runs", "verify", "--run-dir", str(tmp_path / "nonexistent"))
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith(f"rnn-mnist runs: the run directory {tmp_path / 'nonexistent'} does not exist")


@pytest.mark.parametrize("command", [["train"], ["runs", "verify"]])
def test_an_empty_run_directory_is_refused_not_the_working_directory(command, tmp_path):
    result = subprocess.run([sys.executable, "-m", "rnn_mnist.cli", *command, "--run-dir", ""], cwd=tmp_path,
                            capture_output=True, text=True, check=False)
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "argument --run-dir: expected a directory, got an empty path" in result.stderr
    assert list(tmp_path.iterdir()) == [], "nothing was stored in the working directory"


def test_a_learning_rate_below_the_cosine_floor_is_accepted_and_lowers_the_floor():
    from rnn_mnist.config import book_recipe, config_from_parameters

    config = config_from_parameters("book", learning_rate=1e-6)
    assert config.learning_rate == 1e-6 and config.min_learning_rate == 1e-6
    # a rate at or above the floor keeps it, so the runs stored for such configs keep their names
    assert config_from_parameters("book", learning_rate=1e-3).min_learning_rate == 1e-5
    assert book_recipe(learning_rate=1e-3).run_id() == book_recipe().replace(learning_rate=1e-3).run_id()


def test_a_too_small_learning_rate_names_learning_rate():
    result = rnn_mnist("train", "--learning-rate", "0")
    assert result.returncode == 2 and "'learning_rate'" in result.stderr and "min_learning_rate" not in result.stderr


def test_an_unknown_recipe_name_is_named_as_the_chapters_parameter():
    from rnn_mnist.config import ConfigError, config_from_parameters

    with pytest.raises(ConfigError) as caught:
        config_from_parameters("sead")
    assert caught.value.field_name == "recipe_name"
    assert str(caught.value) == "Invalid value for 'recipe_name': 'sead'. Allowed: one of 'seed', 'book'."


def test_an_unknown_keras_backend_is_one_line_and_exit_2():
    env = {**os.environ, "KERAS_BACKEND": "bogus"}
    result = rnn_mnist("train", "--epochs", "1", env=env)
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith("rnn-mnist train: KERAS_BACKEND='bogus' is not a Keras backend; set it to one of "
                                    "tensorflow, jax")


def test_ctrl_c_is_one_line_and_exit_130(monkeypatch, tmp_path, capsys):
    from rnn_mnist import runs

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(runs, "ensure_trained", interrupted)
    assert main(["train", "--epochs", "1", "--run-dir", str(tmp_path)]) == 130
    assert capsys.readouterr().err == ("rnn-mnist train: interrupted; run the same command again to resume the run "
                                       "from its last finished epoch\n")


def test_real_ctrl_c_during_training_prints_no_traceback(tmp_path, mnist):
    import signal

    process = subprocess.Popen(
        [sys.executable, "-m", "rnn_mnist.cli", "train", "--epochs", "50", "--units", "8", "--train-size", "200",
         "--test-size", "100", "--run-dir", str(tmp_path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob("*/history.csv")) and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130 and "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("rnn-mnist train: interrupted; run the same command again")


def test_a_failing_chapter_is_one_line_and_exit_1(monkeypatch, capsys):
    from rnn_mnist import book

    def failing(*args, **kwargs):
        raise book.ChapterExecutionError("Chapter 03_training failed in cell 4 (execution count 3): "
                                         "ValueError: bad.\nThe partly executed copy is x.ipynb.")

    monkeypatch.setattr(book, "build_book", failing)
    assert main(["book", "--profile", "small", "--root", str(REPO_ROOT), "--no-build"]) == 1
    assert capsys.readouterr().err == ("rnn-mnist book: Chapter 03_training failed in cell 4 (execution count 3): "
                                       "ValueError: bad. The partly executed copy is x.ipynb.\n")


def book_sources(root, profile_text):
    """A copy of the book's table of contents and chapters, with ``profile_text`` as the profile 'bad'."""
    import shutil

    shutil.copy(REPO_ROOT / "_toc.yml", root / "_toc.yml")
    shutil.copytree(REPO_ROOT / "notebooks", root / "notebooks", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    with open(root / "notebooks" / "parameters.yml", "a") as handle:
        handle.write("\nbad:\n" + profile_text)
    return root


@pytest.mark.parametrize("jobs", ["1", "2"])
@pytest.mark.parametrize("profile, message", [
    ("  epoch: 2\n  train_sise: 100\n",
     "--profile: profile 'bad' in notebooks/parameters.yml: unknown parameter 'epoch', 'train_sise'; "
     "the chapters' parameters are "),
    ("  epochs: 0\n", "--profile: profile 'bad' in notebooks/parameters.yml, chapter 01_data: "
                      "Invalid value for 'epochs': 0."),
    ("  mistakes_to_show: 0\n", "chapter 06_error_analysis: Invalid value for 'mistakes_to_show': 0."),
    ("  recipe_name: sead\n", "chapter 01_data: Invalid value for 'recipe_name': 'sead'."),
])
def test_a_bad_profile_is_rejected_before_any_work_in_one_line(profile, message, jobs, tmp_path):
    root = book_sources(tmp_path, profile)
    started = time.perf_counter()
    result = rnn_mnist("book", "--profile", "bad", "--root", str(root), "--jobs", jobs)
    seconds = time.perf_counter() - started
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith("rnn-mnist book: --profile: profile 'bad' in notebooks/parameters.yml")
    assert message in result.stderr
    assert seconds < 2.0, f"took {seconds:.1f} s to reject"
    assert not (root / "book").exists(), "nothing was executed"


def test_checking_a_profile_takes_under_a_second(tmp_path):
    from rnn_mnist.book import load_profile

    root = book_sources(tmp_path, "  epochs: 2\n  train_size: 2000\n  latency_repeats: 5\n")
    started = time.perf_counter()
    assert load_profile(root, "bad") == {"epochs": 2, "train_size": 2000, "latency_repeats": 5}
    assert time.perf_counter() - started < 1.0
    misspelt = tmp_path / "misspelt"
    misspelt.mkdir()
    with pytest.raises(ValueError, match=r"unknown parameter 'epoch'; the chapters' parameters are .*\bepochs\b"):
        load_profile(book_sources(misspelt, "  epoch: 2\n"), "bad")
