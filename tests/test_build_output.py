"""What the book build prints (lab.quiet, lab.progress): progress while it trains, no start-up noise.

The noise lines below are the ones TensorFlow 2.21 and ipykernel 7 printed on the CPU-only
development machine; the two tests that start real processes assert that none of them reaches
a chapter's outputs or the build's log, while a real stderr line does.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap

import nbformat

from rnn_mnist.book import execute_chapter
from rnn_mnist.lab.progress import EpochProgress, duration, model_summary, run_tag
from rnn_mnist.lab.quiet import NOISE_MARKERS, filtered_stderr, is_noise

SEEN = [
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    "I0000 00:00:1796404054.858793    3262 port.cc:153] oneDNN custom operations are on. You may see slightly "
    "different numerical results due to floating-point round-off errors from different computation orders. "
    "To turn them off, set the environment variable `TF_ENABLE_ONEDNN_OPTS=0`.",
    "I0000 00:00:1796404054.859887    3262 cudart_stub.cc:31] Could not find cuda drivers on your machine, "
    "GPU will not be used.",
    "E0000 00:00:1796404060.997873    3262 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error: "
    "Failed call to cuInit: UNKNOWN ERROR (303)",
    "E0000 00:00:1796404063.510206    3262 node_def_util.cc:682] NodeDef mentions attribute use_unbounded_threadpool "
    "which is not in the op definition: Op<name=MapDataset; signature=input_dataset:variant>",
    "I0000 00:00:1796405699.973954   20813 cpu_feature_guard.cc:227] This TensorFlow binary is optimized to use "
    "available CPU instructions in performance-critical operations.",
    "To enable the following instructions: AVX2 AVX512F AVX512_VNNI AVX512_BF16 FMA, in other operations, "
    "rebuild TensorFlow with the appropriate compiler flags.",
    "[IPKernelApp] WARNING | Kernel is running over TCP without encryption. All communication (including code "
    "and outputs) is sent in plain text and is susceptible to eavesdropping.",
]
REAL = [
    "E0000 00:00:1796404063.510206    3262 op_kernel.cc:1840] OP_REQUIRES failed at matmul_op.cc:53 : "
    "INVALID_ARGUMENT: Matrix size-incompatible",
    "F0000 00:00:1796404063.510206    3262 cuda_dnn.cc:535] Check failed: cudnn handle",
    "Traceback (most recent call last):",
    "ValueError: failed call to cuInit in the package's own words",
    "rnn-mnist book: chapter 03_training failed",
]


def noise_in(text: str) -> list[str]:
    return [line for line in text.splitlines() if any(marker in line for marker in NOISE_MARKERS)]


def test_the_known_start_up_lines_are_noise_and_errors_are_not():
    assert all(is_noise(line) for line in SEEN)
    assert not any(is_noise(line) for line in REAL)
    assert is_noise(SEEN[1] + "\n") and not is_noise("")


def test_the_filter_drops_noise_from_child_processes_and_keeps_the_rest_in_order(capfd):
    lines = [SEEN[0], REAL[0], SEEN[3], "half a line without its end"]
    script = "import sys; sys.stderr.write(" + repr("\n".join(lines)) + ")"
    with filtered_stderr():
        print("from this process", file=sys.stderr)
        subprocess.run([sys.executable, "-c", script], check=True)
        subprocess.run([sys.executable, "-c", "import os; os.write(2, b'50%\\r100%\\r\\n'); os._exit(3)"])
    printed = capfd.readouterr().err
    assert printed == f"from this process\n{REAL[0]}\nhalf a line without its end50%\r100%\r\n"


def test_progress_lines_say_which_run_which_epoch_and_how_long_is_left(capsys):
    from rnn_mnist.config import book_recipe

    config = book_recipe(train_size=2000, epochs=10)
    assert run_tag(config) == "[book recipe, seed 0]"
    assert run_tag(config.replace(label="GRU")) == "[GRU, seed 0]"
    assert run_tag(config.replace(dataset="fashion_mnist", seed=3)) == "[book recipe, fashion_mnist, seed 3]"
    assert model_summary(config) == "LSTM(128), 10 epochs of 2,000 images, batch 128"
    assert [duration(s) for s in (0.4, 45, 80, 3600, 3900)] == ["0 s", "45 s", "1 min 20 s", "1 h", "1 h 5 min"]
    progress = EpochProgress("[book recipe, seed 0]", epochs=10)
    progress.seconds = [20.0, 11.8, 11.8]  # the first epoch also traces the step: left out of the estimate
    assert progress.line(3, {"val_accuracy": 0.99041, "accuracy": 0.5}) == (
        "[book recipe, seed 0] epoch 3/10  val_accuracy 0.9904  11.8 s/epoch  ~1 min 23 s left")
    assert progress.line(10, {"accuracy": 0.5}) == (
        "[book recipe, seed 0] epoch 10/10  accuracy 0.5000  11.8 s/epoch  evaluating and storing")


TRAIN_THE_WAY_THE_BUILD_DOES = textwrap.dedent("""
    from rnn_mnist.lab.quiet import filtered_stderr

    with filtered_stderr():  # as build_book does, before anything imports TensorFlow
        from rnn_mnist.config import book_recipe
        from rnn_mnist.lab.parallel_runs import train_runs

        config = book_recipe(train_size=200, test_size=100, epochs=2, units=8)
        print("RUN", config.run_id(), flush=True)
        train_runs([config], workers=1)
""")


def test_a_run_trained_in_the_builds_worker_prints_its_epochs_and_no_noise(tmp_path, mnist):
    # As `rnn-mnist book` runs it: no TF_CPP_MIN_LOG_LEVEL of its own (the package sets it),
    # the filter around the build, the run trained in a spawned worker process.
    environment = {name: value for name, value in os.environ.items() if name != "TF_CPP_MIN_LOG_LEVEL"}
    environment["RNN_MNIST_RUNS"] = str(tmp_path / "runs")
    result = subprocess.run([sys.executable, "-c", TRAIN_THE_WAY_THE_BUILD_DOES], capture_output=True, text=True,
                            env=environment, timeout=600)
    assert result.returncode == 0, result.stderr
    out = result.stdout.splitlines()
    run_id = out[0].split()[1]
    assert f"  [book recipe, seed 0] training {run_id}: LSTM(8), 2 epochs of 200 images, batch 128" in out
    epochs = [line for line in out if " epoch " in line]
    assert [re.search(r" epoch (\S+) ", line).group(1) for line in epochs] == ["1/2", "2/2"], out
    assert epochs[0].startswith("  [book recipe, seed 0] epoch 1/2  val_accuracy 0.") and epochs[0].endswith(" left")
    assert epochs[1].endswith("evaluating and storing")
    done = out[-1]
    assert done.startswith(f"  [book recipe, seed 0] trained {run_id} in ") and done.endswith("(1/1 runs done)")
    assert "test accuracy " in done
    assert noise_in(result.stdout + result.stderr) == []


def test_a_chapter_executed_by_the_build_holds_no_noise_and_keeps_real_stderr(tmp_path, capfd, monkeypatch):
    # A reader's chapter: the package first, then TensorFlow, a Keras fit (its input pipeline logged
    # the NodeDef line), a line of the chapter's own on stderr.
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    (tmp_path / "notebooks").mkdir()
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    parameters = nbformat.v4.new_code_cell("epochs = 1")
    parameters.metadata["tags"] = ["parameters"]
    notebook.cells = [
        nbformat.v4.new_code_cell("import rnn_mnist"),
        parameters,
        nbformat.v4.new_code_cell(textwrap.dedent("""
            import numpy as np
            import keras
            import tensorflow as tf

            model = keras.Sequential([keras.Input((3, 2)), keras.layers.LSTM(2), keras.layers.Dense(2)])
            model.compile("adam", "sparse_categorical_crossentropy")
            model.fit(np.zeros((8, 3, 2), "float32"), np.zeros(8, "int64"), epochs=epochs, verbose=0)
            print("devices", len(tf.config.list_physical_devices()))
        """)),
        nbformat.v4.new_code_cell("import sys; print('the chapter says something on stderr', file=sys.stderr)"),
    ]
    nbformat.write(notebook, tmp_path / "notebooks" / "01_a.ipynb")
    with filtered_stderr():
        executed = execute_chapter(tmp_path, "01_a", {"epochs": 1}, progress_bar=False)
    log = capfd.readouterr()
    outputs = json.dumps([cell.get("outputs", []) for cell in nbformat.read(executed, as_version=4).cells])
    assert "devices " in outputs and "the chapter says something on stderr" in outputs
    assert noise_in(outputs) == []
    assert noise_in(log.out + log.err) == []
