"""A damaged stored run is never served; an unreadable resume checkpoint restarts the run.

Most tests copy one tiny stored run (trained once per module) and damage the
copy the way a crash, a full disk or a stray edit would. "Training" is then
replaced by copying the intact run back in, which is what retraining would
produce; the tests marked *real* train for real.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import threading
import time

import keras
import numpy as np
import pytest
from test_runs import Interrupt  # the same simulated interruption as the resume tests

from rnn_mnist import runs as runs_module
from rnn_mnist.cli import main
from rnn_mnist.config import default_config
from rnn_mnist.paths import exclusive_lock
from rnn_mnist.runs import DamagedRunError, TrainingRun, check_run, ensure_trained, find_run, run_dir_for
from rnn_mnist.training import align_history_with_backup

TINY = dict(epochs=2, units=16, train_size=300, validation_size=100, test_size=100)
CONFIG = default_config(**TINY)
CLI_TINY = ["--epochs", "2", "--units", "16", "--train-size", "300", "--validation-size", "100", "--test-size", "100"]


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> TrainingRun:
    """One intact tiny run, trained once for the module (never damaged: tests damage copies)."""
    return ensure_trained(CONFIG, tmp_path_factory.mktemp("pristine"), verbose=0)


@pytest.fixture
def stored(pristine, tmp_path):
    """A copy of the pristine run in a fresh run directory; returns (runs_dir, run_dir)."""
    runs_dir = tmp_path / "runs"
    shutil.copytree(pristine.run_dir, runs_dir / pristine.run_dir.name)
    return runs_dir, runs_dir / pristine.run_dir.name


@pytest.fixture
def fake_training(pristine, monkeypatch):
    """Replace training by copying the pristine run in; records each call's run directory."""
    calls = []

    def train_into(config, run_dir, **options):
        calls.append(run_dir)
        shutil.copytree(pristine.run_dir, run_dir, dirs_exist_ok=True)
        return json.loads((run_dir / "metrics.json").read_text())

    monkeypatch.setattr(runs_module, "train_into", train_into)
    return calls


def truncate(path, size):
    with open(path, "r+b") as handle:
        handle.truncate(size)


def scramble(path):
    """Random bytes of the same length (a checksum catches it, a size check would not)."""
    path.write_bytes(np.random.default_rng(0).integers(0, 256, path.stat().st_size, dtype=np.uint8).tobytes())


def drop_checksums(path):
    metrics = json.loads(path.read_text())
    del metrics["artefacts"]
    path.write_text(json.dumps(metrics))


DAMAGES = {
    "model.keras truncated": ("model.keras", lambda p: truncate(p, 1000), "model.keras has 1000 bytes"),
    "model.keras missing": ("model.keras", lambda p: p.unlink(), "model.keras is missing"),
    "best.keras truncated": ("best.keras", lambda p: truncate(p, 500), "best.keras has 500 bytes"),
    "history.csv random bytes": ("history.csv", scramble, "history.csv does not match its stored SHA-256"),
    "history.csv empty": ("history.csv", lambda p: p.write_text(""), "history.csv has 0 bytes"),
    "predictions.npz truncated": ("predictions.npz", lambda p: truncate(p, 2000), "predictions.npz has 2000 bytes"),
    "config.json edited": ("config.json", lambda p: p.write_text(p.read_text().replace("16", "17")),
                           "config.json does not match"),
    "metrics.json truncated": ("metrics.json", lambda p: truncate(p, 50), "metrics.json is not readable JSON"),
    "metrics.json {}": ("metrics.json", lambda p: p.write_text("{}"), "metrics.json holds no metrics"),
    "metrics.json without checksums": ("metrics.json", drop_checksums, "records no checksums"),
}


def test_a_finished_run_records_size_and_sha256_of_every_artefact(pristine):
    artefacts = pristine.metrics["artefacts"]
    assert set(artefacts) == {"config.json", "history.csv", "model.keras", "best.keras", "predictions.npz"}
    import hashlib

    for name, record in artefacts.items():
        data = (pristine.run_dir / name).read_bytes()
        assert record == {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    assert check_run(pristine.run_dir).ok and check_run(pristine.run_dir, CONFIG).ok


@pytest.mark.parametrize("damage", list(DAMAGES), ids=list(DAMAGES))
def test_a_damaged_run_is_named_moved_aside_and_retrained(damage, stored, fake_training, capsys):
    runs_dir, run_dir = stored
    name, harm, reason = DAMAGES[damage]
    harm(run_dir / name)
    assert find_run(CONFIG, runs_dir) is None, "a damaged run is not found as a stored run"
    assert run_dir.is_dir(), "find_run moves nothing"

    run = ensure_trained(CONFIG, runs_dir, verbose=0)

    assert fake_training == [run_dir] and run.trained_now is True
    warning = capsys.readouterr().err.strip().splitlines()
    assert len(warning) == 1 and run_dir.name in warning[0] and reason in warning[0]
    aside = [p for p in runs_dir.iterdir() if p.name.startswith(run_dir.name + ".damaged-")]
    assert len(aside) == 1 and re.fullmatch(rf"{run_dir.name}\.damaged-\d{{8}}T\d{{6}}Z", aside[0].name)
    assert aside[0].name in warning[0]
    assert (aside[0] / name).exists() or name == "model.keras", "the damaged run is kept as it was"
    assert check_run(run_dir, CONFIG).ok and find_run(CONFIG, runs_dir) is not None


def test_an_intact_run_is_reused_without_a_warning(stored, fake_training, capsys):
    runs_dir, run_dir = stored
    run = ensure_trained(CONFIG, runs_dir, verbose=0)
    assert fake_training == [] and run.trained_now is False
    assert capsys.readouterr().err == ""
    assert [p.name for p in runs_dir.iterdir() if p.is_dir()] == [run_dir.name]


def test_a_run_without_metrics_json_is_unfinished_and_trained_in_place(stored, fake_training, capsys):
    runs_dir, run_dir = stored
    (run_dir / "metrics.json").unlink()
    assert check_run(run_dir).status == "unfinished"
    ensure_trained(CONFIG, runs_dir, verbose=0)
    assert fake_training == [run_dir]
    assert not [p for p in runs_dir.iterdir() if ".damaged-" in p.name], "an interrupted run is resumed, not moved"


def test_loading_a_damaged_run_names_it_and_the_reason(stored):
    _, run_dir = stored
    truncate(run_dir / "predictions.npz", 10)
    with pytest.raises(DamagedRunError, match=re.escape(f"{run_dir} cannot be used: predictions.npz has 10 bytes")):
        TrainingRun.load(run_dir)


def test_retrain_moves_the_stored_run_aside_and_trains_again(stored, fake_training, capsys):
    runs_dir, run_dir = stored
    assert main(["train", *CLI_TINY, "--run-dir", str(runs_dir), "--retrain", "--json"]) == 0
    out, err = capsys.readouterr()
    assert fake_training == [run_dir]
    assert out.splitlines()[0].startswith(f"Trained {run_dir.name}")
    assert json.loads(out.splitlines()[-1])["reused_stored_run"] is False
    aside = [p.name for p in runs_dir.iterdir() if p.name.startswith(run_dir.name + ".replaced-")]
    assert len(aside) == 1 and aside[0] in err


def test_runs_verify_reports_each_run_and_moves_only_when_asked(stored, pristine, tmp_path, capsys):
    runs_dir, run_dir = stored
    broken = runs_dir / "mnist-lstm16-000000000000"
    shutil.copytree(pristine.run_dir, broken)
    truncate(broken / "model.keras", 100)
    unfinished = runs_dir / "mnist-lstm16-111111111111"
    unfinished.mkdir()
    (unfinished / "history.csv").write_text("epoch,loss\n0,1.0\n")

    assert main(["runs", "verify", "--run-dir", str(runs_dir)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "mnist-lstm16-000000000000: damaged (model.keras has 100 bytes, "
        f"{pristine.metrics['artefacts']['model.keras']['bytes']} were stored)",
        "mnist-lstm16-111111111111: unfinished (no metrics.json: training did not finish)",
        f"{run_dir.name}: ok",
        f"1 ok, 1 unfinished, 1 damaged under {runs_dir}",
    ]
    assert broken.is_dir(), "verify moves nothing unless asked"

    assert main(["runs", "verify", "--run-dir", str(runs_dir), "--move-aside"]) == 1
    assert "moved to mnist-lstm16-000000000000.damaged-" in capsys.readouterr().out
    assert not broken.exists() and len(list(runs_dir.glob("mnist-lstm16-000000000000.damaged-*"))) == 1

    assert main(["runs", "verify", "--run-dir", str(runs_dir)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == f"1 ok, 1 unfinished under {runs_dir}"


def test_runs_verify_leaves_a_run_in_training_alone(stored, capsys):
    runs_dir, run_dir = stored
    (run_dir / "metrics.json").write_text("{}")
    with exclusive_lock(run_dir.with_name(run_dir.name + ".lock")):
        assert main(["runs", "verify", "--run-dir", str(runs_dir), "--move-aside"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == f"{run_dir.name}: training (another process holds its lock)"
    assert run_dir.is_dir()


def test_a_process_that_waited_for_the_lock_says_it_reused_the_run(pristine, tmp_path, monkeypatch):
    def must_not_train(*args, **kwargs):
        raise AssertionError("the waiting process trained a run another process had finished")

    monkeypatch.setattr(runs_module, "train_into", must_not_train)
    runs_dir = tmp_path / "runs"
    run_dir = run_dir_for(CONFIG, runs_dir)
    result = {}
    with exclusive_lock(run_dir.with_name(run_dir.name + ".lock")):  # "another process" is training it
        waiter = threading.Thread(target=lambda: result.update(run=ensure_trained(CONFIG, runs_dir, verbose=0)))
        waiter.start()
        time.sleep(1.0)  # the waiter found no run and now waits for the lock
        assert waiter.is_alive() and "run" not in result
        shutil.copytree(pristine.run_dir, run_dir)  # the other process finishes
    waiter.join(timeout=60)
    assert result["run"].trained_now is False


def test_train_json_is_strict_json_even_with_a_nan_metric(stored, fake_training, capsys):
    runs_dir, run_dir = stored
    metrics = json.loads((run_dir / "metrics.json").read_text())
    metrics["test_loss"] = float("nan")  # a diverged run; metrics.json itself is not checksummed
    (run_dir / "metrics.json").write_text(json.dumps(metrics))
    assert main(["train", *CLI_TINY, "--run-dir", str(runs_dir), "--json"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"Reused the stored run {run_dir.name} (book recipe)"

    def no_constants(token):
        raise ValueError(f"not JSON: {token}")

    result = json.loads(out[-1], parse_constant=no_constants)
    assert result["test_loss"] is None and result["reused_stored_run"] is True and fake_training == []


# -- a run stored by another Keras -------------------------------------------------
HERE = runs_module.release(runs_module.installed_keras())  # (major, minor) of the Keras running these tests
UNKNOWN_ARGUMENT = "axes_of_a_future_keras"


def record_keras(run_dir, version):
    """Make ``metrics.json`` say that Keras ``version`` stored the run (metrics.json is not checksummed)."""
    metrics = json.loads((run_dir / "metrics.json").read_text())
    metrics["versions"]["keras"] = version
    (run_dir / "metrics.json").write_text(json.dumps(metrics))


def add_an_initializer_argument_this_keras_lacks(run_dir):
    """Rewrite model.keras the way a file of Keras 3.15 looks to Keras 3.10 (whose GlorotUniform has no
    ``input_axes``): an initializer's config names an argument this Keras does not know. The checksums
    are updated, so the run stays intact."""
    import zipfile

    from rnn_mnist.paths import file_sha256

    path = run_dir / "model.keras"
    with zipfile.ZipFile(path) as archive:
        members = {info: archive.read(info) for info in archive.infolist()}

    def add(node):
        if isinstance(node, dict):
            if node.get("class_name") == "GlorotUniform":
                node["config"][UNKNOWN_ARGUMENT] = [0]
            for value in node.values():
                add(value)
        elif isinstance(node, list):
            for value in node:
                add(value)

    with zipfile.ZipFile(path, "w") as archive:
        for info, data in members.items():
            if info.filename == "config.json":
                config = json.loads(data)
                add(config)
                data = json.dumps(config).encode()
            archive.writestr(info, data)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    metrics["artefacts"]["model.keras"] = {"bytes": path.stat().st_size, "sha256": file_sha256(path)}
    (run_dir / "metrics.json").write_text(json.dumps(metrics))


def snapshot(run_dir):
    return {p.name: p.read_bytes() for p in sorted(run_dir.iterdir())}


def slot_of(run_dir):
    return run_dir.with_name(f"{run_dir.name}.keras-{HERE[0]}.{HERE[1]}")


def test_a_run_stored_by_a_newer_keras_is_kept_and_the_config_trained_again_beside_it(stored, fake_training, capsys):
    runs_dir, run_dir = stored
    record_keras(run_dir, f"{HERE[0]}.{HERE[1] + 1}.0")
    before = snapshot(run_dir)
    assert check_run(run_dir, CONFIG).ok, "the run is intact: only this Keras cannot read it"
    assert find_run(CONFIG, runs_dir) is None, "a run this Keras cannot read is not found as a stored run"

    run = ensure_trained(CONFIG, runs_dir, verbose=0)

    slot = slot_of(run_dir)
    assert fake_training == [slot] and run.run_dir == slot and run.trained_now is True
    assert snapshot(run_dir) == before, "the run of the newer Keras is left exactly as it was"
    warning = capsys.readouterr().err.strip().splitlines()
    assert warning == [
        f"rnn-mnist: warning: run {run_dir.name} is kept as it is and not read here: it was stored by Keras "
        f"{HERE[0]}.{HERE[1] + 1}.0, newer than this Keras {runs_module.installed_keras()}; "
        f"the config is trained again for this Keras in {slot.name}"
    ]
    assert sorted(p.name for p in runs_dir.iterdir() if p.is_dir()) == [run_dir.name, slot.name]
    assert run.load_model().count_params() == run.metrics["parameters"]

    again = ensure_trained(CONFIG, runs_dir, verbose=0)
    assert again.run_dir == slot and again.trained_now is False and fake_training == [slot]
    assert find_run(CONFIG, runs_dir).run_dir == slot and capsys.readouterr().err == ""


def test_a_run_whose_model_this_keras_cannot_load_is_kept_and_trained_again_beside_it(stored, fake_training, capsys):
    runs_dir, run_dir = stored
    record_keras(run_dir, "3.0.0")  # older than this Keras: it is loaded to see
    add_an_initializer_argument_this_keras_lacks(run_dir)
    assert check_run(run_dir, CONFIG).ok
    cause = f"TypeError: GlorotUniform.__init__() got an unexpected keyword argument '{UNKNOWN_ARGUMENT}'"
    with pytest.raises(runs_module.UnreadableRunError) as raised:
        TrainingRun(run_dir, CONFIG).load_model()
    assert str(raised.value) == (
        f"{run_dir / 'model.keras'} was stored by Keras 3.0.0 and this Keras {runs_module.installed_keras()} "
        f"cannot load it ({cause}); call ensure_trained(config), which trains the config again for this Keras "
        "beside the stored run")
    before = snapshot(run_dir)

    run = ensure_trained(CONFIG, runs_dir, verbose=0)

    assert fake_training == [slot_of(run_dir)] and run.run_dir == slot_of(run_dir)
    assert snapshot(run_dir) == before
    assert capsys.readouterr().err.strip().splitlines() == [  # one line, no deserialization traceback
        f"rnn-mnist: warning: run {run_dir.name} is kept as it is and not read here: it was stored by Keras 3.0.0 "
        f"and this Keras {runs_module.installed_keras()} cannot load it (model.keras: {cause}); "
        f"the config is trained again for this Keras in {run.run_dir.name}"
    ]


def test_loading_a_missing_model_names_it_and_blames_no_keras_version(stored):
    _, run_dir = stored
    (run_dir / "best.keras").unlink()
    with pytest.raises(DamagedRunError) as raised:
        TrainingRun(run_dir, CONFIG).load_model(best=True)
    assert str(raised.value) == f"{run_dir / 'best.keras'} is missing; call ensure_trained(config) to train the run again"


def test_a_run_of_an_older_keras_that_loads_here_is_served(stored, fake_training, capsys):
    runs_dir, run_dir = stored
    record_keras(run_dir, "3.0.0")
    run = ensure_trained(CONFIG, runs_dir, verbose=0)
    assert run.run_dir == run_dir and fake_training == [] and capsys.readouterr().err == ""


def test_a_run_of_another_patch_release_is_served_without_loading_it(stored, fake_training, monkeypatch):
    runs_dir, run_dir = stored
    record_keras(run_dir, f"{HERE[0]}.{HERE[1]}.99")

    def must_not_load(run_dir):
        raise AssertionError("the same major.minor reads its own files: nothing needs loading")

    monkeypatch.setattr(runs_module, "model_load_error", must_not_load)
    assert ensure_trained(CONFIG, runs_dir, verbose=0).run_dir == run_dir and fake_training == []


def test_retrain_and_damage_apply_to_the_slot_and_never_to_the_run_of_the_newer_keras(stored, fake_training, capsys):
    runs_dir, run_dir = stored
    record_keras(run_dir, f"{HERE[0] + 1}.0.0")
    before = snapshot(run_dir)
    slot = ensure_trained(CONFIG, runs_dir, verbose=0).run_dir
    truncate(slot / "predictions.npz", 10)
    capsys.readouterr()

    assert ensure_trained(CONFIG, runs_dir, verbose=0).run_dir == slot
    damaged = capsys.readouterr().err.strip().splitlines()
    assert len(damaged) == 2 and damaged[0].startswith(f"rnn-mnist: warning: run {slot.name} is damaged")
    assert ensure_trained(CONFIG, runs_dir, verbose=0, retrain=True).run_dir == slot
    assert fake_training == [slot, slot, slot] and snapshot(run_dir) == before
    aside = sorted(p.name.split(".")[-1].split("-")[0] for p in runs_dir.glob(f"{slot.name}.*-*") if p.is_dir())
    assert aside == ["damaged", "replaced"]


def test_runs_verify_lists_the_slot_and_the_run_it_stands_in_for(stored, fake_training, capsys):
    runs_dir, run_dir = stored
    newer = f"{HERE[0]}.{HERE[1] + 1}.0"
    record_keras(run_dir, newer)
    slot = ensure_trained(CONFIG, runs_dir, verbose=0).run_dir
    capsys.readouterr()
    assert main(["runs", "verify", "--run-dir", str(runs_dir)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"{run_dir.name}: ok (stored by Keras {newer}, newer than this Keras {runs_module.installed_keras()}, "
        f"which reads {slot.name})",
        f"{slot.name}: ok (trained again for Keras {HERE[0]}.{HERE[1]}, beside {run_dir.name})",
        f"2 ok under {runs_dir}",
    ]
    assert TrainingRun.load(slot).config == CONFIG


# -- the resume checkpoint ------------------------------------------------------




class EpochCounter(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.epochs = []

    def on_epoch_begin(self, epoch, logs=None):
        self.epochs.append(epoch)


def test_real_a_truncated_resume_checkpoint_restarts_the_run_as_a_fresh_one(pristine, tmp_path, capsys):
    with pytest.raises(KeyboardInterrupt):
        ensure_trained(CONFIG, tmp_path, verbose=0, extra_callbacks=[Interrupt(after_epoch=0)])
    backup = run_dir_for(CONFIG, tmp_path) / "backup"
    assert not (backup / "latest.weights.h5.bkp").exists(), "one epoch: no previous checkpoint to fall back on"
    truncate(backup / "latest.weights.h5", 4096)
    capsys.readouterr()

    counter = EpochCounter()
    run = ensure_trained(CONFIG, tmp_path, verbose=0, extra_callbacks=[counter])

    warning = capsys.readouterr().err.strip().splitlines()
    assert len(warning) == 1 and "resume checkpoint cannot be read" in warning[0] and "afresh" in warning[0]
    assert counter.epochs == [0, 1]
    assert run.history["loss"] == pristine.history["loss"], "the restart trains exactly what a fresh run does"
    assert check_run(run.run_dir, CONFIG).ok and not backup.exists()


def test_real_an_empty_training_metadata_resumes_from_the_previous_checkpoint(tmp_path, capsys):
    config = CONFIG.replace(epochs=3)
    with pytest.raises(KeyboardInterrupt):
        ensure_trained(config, tmp_path, verbose=0, extra_callbacks=[Interrupt(after_epoch=1)])
    backup = run_dir_for(config, tmp_path) / "backup"
    (backup / "training_metadata.json").write_text("")
    capsys.readouterr()

    counter = EpochCounter()
    run = ensure_trained(config, tmp_path, verbose=0, extra_callbacks=[counter])

    warning = capsys.readouterr().err.strip().splitlines()
    assert len(warning) == 1 and "resuming from the one before" in warning[0]
    assert counter.epochs == [1, 2], "epoch 1's checkpoint was lost, epoch 0's is used"
    assert run.history["epoch"] == [0.0, 1.0, 2.0]
    # epochs 0 and 1 each began a fit call (and traced the step); only epoch 2 is an ordinary epoch
    assert run.history["first_epoch_of_fit"] == [1.0, 1.0, 0.0]
    assert run.metrics["first_epochs_of_fit"] == [0, 1]
    assert run.metrics["seconds_per_epoch"] == pytest.approx(run.history["epoch_seconds"][2])
    assert run.metrics["train_seconds"] == pytest.approx(sum(run.history["epoch_seconds"]))


def test_an_unreadable_backup_without_a_previous_one_is_discarded(tmp_path, capsys):
    run_dir = tmp_path / "mnist-lstm16-abc"
    (run_dir / "backup").mkdir(parents=True)
    (run_dir / "backup" / "training_metadata.json").write_text("")
    (run_dir / "backup" / "latest.weights.h5").write_bytes(b"\0" * 64)
    (run_dir / "history.csv").write_text("epoch,loss\n0,1.0\n")
    align_history_with_backup(run_dir)
    assert not (run_dir / "backup").exists() and not (run_dir / "history.csv").exists()
    assert capsys.readouterr().err.strip().splitlines() == [
        "rnn-mnist: warning: run mnist-lstm16-abc: its resume checkpoint cannot be read "
        "(training_metadata.json); starting the run afresh"
    ]


def test_a_fresh_run_marks_its_first_epoch_and_times_the_others(pristine):
    assert pristine.history["first_epoch_of_fit"] == [1.0, 0.0]
    assert pristine.metrics["first_epochs_of_fit"] == [0]
    assert pristine.metrics["seconds_per_epoch"] == pytest.approx(pristine.history["epoch_seconds"][1])
    assert math.isfinite(pristine.metrics["train_seconds"])
