"""The dataset as a parameter: Fashion-MNIST beside MNIST, verified from every source, names carried along."""

import gzip
import io

import numpy as np
import pytest

from rnn_mnist import analysis, data
from rnn_mnist.config import ConfigError, default_config
from rnn_mnist.data import (
    CLASS_NAMES,
    FASHION_CLASS_NAMES,
    FASHION_IDX_FILES,
    FASHION_MNIST_ARRAY_SHA256,
    DataSourceError,
    MnistArrays,
    VerificationError,
    array_sha256,
    class_names_for,
    load_dataset,
    load_dataset_arrays,
    load_fashion_mnist_arrays,
    read_idx,
    verify_arrays,
)
from rnn_mnist.splits import make_splits


def idx_bytes(array: np.ndarray) -> bytes:
    """An IDX file (unsigned bytes) holding ``array``, as Zalando and Keras ship them."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def write_idx_folder(folder, arrays, *, gz=True, change=None):
    folder.mkdir(parents=True, exist_ok=True)
    for name, file_name in FASHION_IDX_FILES.items():
        array = arrays[name]
        if change is not None and name == change:
            array = array.copy()
            array.flat[0] = (int(array.flat[0]) + 1) % 10
        raw = idx_bytes(array)
        if gz:
            (folder / file_name).write_bytes(gzip.compress(raw, compresslevel=1, mtime=0))
        else:
            (folder / file_name.removesuffix(".gz")).write_bytes(raw)
    return folder


@pytest.fixture(scope="session")
def fashion() -> MnistArrays:
    """The real Fashion-MNIST (project cache, else Debian's dataset-fashion-mnist; see
    scripts/fetch-fashion-mnist.sh)."""
    return load_dataset_arrays("fashion_mnist")


@pytest.fixture
def no_debian(isolated_home, tmp_path, monkeypatch):
    """An isolated home in which Debian's folder is an empty path (so it serves nothing)."""
    monkeypatch.setattr(data, "DEBIAN_FASHION_DIR", tmp_path / "no-debian-package")
    monkeypatch.delenv("RNN_MNIST_FASHION_DATA", raising=False)
    return isolated_home


def test_fashion_is_the_real_fashion_mnist(fashion):
    for name, expected in FASHION_MNIST_ARRAY_SHA256.items():
        assert array_sha256(getattr(fashion, name)) == expected
    assert fashion.dataset == "fashion_mnist"
    assert fashion.x_train.shape == (60000, 28, 28) and fashion.x_train.dtype == np.uint8
    # Facts published with the dataset: its first labels and 6,000 / 1,000 images of each class.
    assert fashion.y_train[:10].tolist() == [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]
    assert fashion.y_test[:10].tolist() == [9, 2, 1, 1, 6, 1, 4, 6, 5, 7]
    assert np.bincount(fashion.y_train).tolist() == [6000] * 10
    assert np.bincount(fashion.y_test).tolist() == [1000] * 10


def test_class_names_travel_with_the_arrays(fashion, mnist):
    assert fashion.class_names == FASHION_CLASS_NAMES == class_names_for("fashion_mnist")
    assert fashion.class_names[6] == "Shirt" and fashion.class_names[2] == "Pullover"
    assert mnist.dataset == "mnist" and mnist.class_names == CLASS_NAMES == tuple("0123456789")


def test_fingerprints_check_each_datasets_own_hashes(fashion, mnist):
    table = analysis.array_fingerprints(fashion)
    assert table["matches"].all()
    assert table.loc["x_train", "shape"] == (60000, 28, 28)
    assert table.loc["y_test", "pinned sha256"] == FASHION_MNIST_ARRAY_SHA256["y_test"]
    assert analysis.array_fingerprints(mnist)["matches"].all()
    relabelled = MnistArrays(**mnist.arrays(), source="test", dataset="fashion_mnist")
    assert not analysis.array_fingerprints(relabelled)["matches"].any()


def test_the_generic_analysis_names_fashion_mnists_classes(fashion):
    names = fashion.class_names
    balance = analysis.class_balance({"train": fashion.y_train, "test": fashion.y_test}, class_names=names)
    assert balance.index.name == "garment" and balance.index.tolist() == list(FASHION_CLASS_NAMES)
    assert balance.loc["Shirt"].tolist() == [6000, 1000] and balance["train"].sum() == 60000
    grid = analysis.sample_indices_per_class(fashion.y_train, 3, seed=0, class_names=names)
    assert grid.shape == (10, 3) and (fashion.y_train[grid] == np.arange(10)[:, None]).all()
    # a model that answers "Shirt" for every test image: right on the shirts only
    always_shirt = np.full(len(fashion.y_test), names.index("Shirt"))
    accuracy = analysis.per_class_accuracy(fashion.y_test, always_shirt, class_names=names)
    assert accuracy["Shirt"] == 1.0 and accuracy.drop("Shirt").eq(0).all()
    pairs = analysis.most_confused_pairs(fashion.y_test, always_shirt, top=None, class_names=names)
    assert len(pairs) == 9 and set(pairs["predicted"]) == {"Shirt"}
    assert pairs.loc[1, ["true", "count", "share of class"]].tolist() == ["T-shirt/top", 1000, 1.0]


def test_shirts_and_pullovers_mean_images_differ_row_by_row(fashion):
    shirt, pullover = fashion.class_names.index("Shirt"), fashion.class_names.index("Pullover")
    difference = analysis.row_difference(fashion.x_train, fashion.y_train, shirt, pullover)
    assert difference.shape == (28,) and 0 < difference.max() < 1
    means = analysis.class_means(fashion.x_train, fashion.y_train, (shirt, pullover))
    np.testing.assert_allclose(np.abs(means[0] - means[1]).mean(axis=1), difference)


def test_unknown_dataset_names_the_allowed_ones():
    with pytest.raises(ValueError, match="'fashion_mnist'"):
        load_dataset_arrays("cifar10")
    with pytest.raises(ConfigError, match="'dataset'.*'mnist', 'fashion_mnist'"):
        default_config(dataset="cifar10")


def test_a_fashion_config_names_its_run_after_the_dataset():
    config = default_config(dataset="fashion_mnist")
    assert config.run_id().startswith("fashion_mnist-lstm128-")
    assert config.run_id() != default_config().run_id()


def test_make_splits_loads_the_configs_dataset(fashion):
    config = default_config(dataset="fashion_mnist", train_size=500, validation_size=100, test_size=200)
    splits = make_splits(config)
    assert splits.dataset == "fashion_mnist" and splits.class_names == FASHION_CLASS_NAMES
    np.testing.assert_array_equal(splits.y_test, fashion.y_test[splits.test_indices])
    np.testing.assert_array_equal(splits.x_train, fashion.x_train[splits.train_indices] / np.float32(255))
    assert splits.summary() == {"train": 500, "validation": 100, "test": 200}


def test_make_splits_refuses_arrays_of_another_dataset(mnist):
    with pytest.raises(ValueError, match="'fashion_mnist'.*'mnist'"):
        make_splits(default_config(dataset="fashion_mnist"), mnist)


def test_mnist_arrays_fail_fashion_verification_by_name(mnist):
    with pytest.raises(VerificationError, match="real Fashion-MNIST"):
        verify_arrays(mnist.arrays(), "test", "fashion_mnist")


def test_debian_folder_serves_and_fills_the_cache(no_debian, fashion, tmp_path, monkeypatch):
    folder = write_idx_folder(tmp_path / "debian", fashion.arrays())
    monkeypatch.setattr(data, "DEBIAN_FASHION_DIR", folder)
    served = load_fashion_mnist_arrays()
    assert served.source == f"Debian package dataset-fashion-mnist: {folder}"
    cache = no_debian / "data" / "fashion_mnist.npz"
    assert cache.is_file()
    again = load_dataset_arrays("fashion_mnist")
    assert again.source == f"project cache: {cache}" and again.dataset == "fashion_mnist"
    np.testing.assert_array_equal(again.x_test, fashion.x_test)


def test_keras_cache_folder_comes_before_debian(no_debian, fashion, tmp_path):
    folder = write_idx_folder(tmp_path / "keras" / "datasets" / "fashion-mnist", fashion.arrays())
    assert load_fashion_mnist_arrays().source == f"Keras cache: {folder}"


def test_explicit_folder_of_uncompressed_idx_files(no_debian, fashion, tmp_path):
    folder = write_idx_folder(tmp_path / "mine", fashion.arrays(), gz=False)
    assert load_fashion_mnist_arrays(folder).source == f"path argument: {folder}"


def test_environment_variable_may_name_an_npz(no_debian, fashion, tmp_path, monkeypatch):
    path = tmp_path / "fashion.npz"
    data.save_npz_atomic(fashion.arrays(), path)
    monkeypatch.setenv("RNN_MNIST_FASHION_DATA", str(path))
    served = load_dataset_arrays("fashion_mnist")
    assert served.source == f"RNN_MNIST_FASHION_DATA: {path}"
    (x_train, y_train), (x_test, y_test) = load_dataset("fashion_mnist")
    assert int(y_train[0]) == 9 and x_test.shape == (10000, 28, 28)


def test_a_changed_label_is_refused_from_a_named_folder(no_debian, fashion, tmp_path):
    folder = write_idx_folder(tmp_path / "tampered", fashion.arrays(), change="y_train")
    with pytest.raises(DataSourceError, match=r"path argument \(.*tampered\) cannot be used.*y_train"):
        load_fashion_mnist_arrays(folder)
    assert not (no_debian / "data" / "fashion_mnist.npz").exists()


def test_a_tampered_debian_folder_is_skipped_and_reported(no_debian, fashion, tmp_path, monkeypatch):
    folder = write_idx_folder(tmp_path / "debian", fashion.arrays(), change="x_test")
    monkeypatch.setattr(data, "DEBIAN_FASHION_DIR", folder)
    with pytest.raises(DataSourceError) as caught:
        load_fashion_mnist_arrays()
    assert "'x_test' does not match the SHA-256 of the real Fashion-MNIST" in str(caught.value)


def test_corrupt_project_cache_is_deleted_and_replaced(no_debian, fashion, tmp_path, monkeypatch):
    cache = no_debian / "data" / "fashion_mnist.npz"
    cache.parent.mkdir(parents=True)
    cache.write_bytes(b"PK\x03\x04 not a zip")
    monkeypatch.setattr(data, "DEBIAN_FASHION_DIR", write_idx_folder(tmp_path / "debian", fashion.arrays()))
    assert load_fashion_mnist_arrays().source.startswith("Debian package")
    assert array_sha256(np.load(cache)["y_test"]) == FASHION_MNIST_ARRAY_SHA256["y_test"]


def test_no_source_lists_every_attempt_and_how_to_supply(no_debian):
    with pytest.raises(DataSourceError) as caught:
        load_fashion_mnist_arrays()
    message = str(caught.value)
    for attempt in ("project cache", "Keras cache", "Debian package dataset-fashion-mnist",
                    "Keras download: skipped (offline)", "apt-get install dataset-fashion-mnist",
                    "RNN_MNIST_FASHION_DATA"):
        assert attempt in message


def test_keras_download_is_checked_by_array_hashes(no_debian, fashion, monkeypatch):
    served_urls = []

    class Response(io.BytesIO):
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    files = {file_name: gzip.compress(idx_bytes(fashion.arrays()[name]), compresslevel=1, mtime=0)
             for name, file_name in FASHION_IDX_FILES.items()}

    def fake_urlopen(url, timeout):
        served_urls.append(url)
        return Response(files[url.rsplit("/", 1)[1]])

    monkeypatch.setattr(data.urllib.request, "urlopen", fake_urlopen)
    served = load_fashion_mnist_arrays(use_network=True)
    assert served.source == f"Keras download: {data.KERAS_FASHION_BASE_URL}"
    assert sorted(u.rsplit("/", 1)[1] for u in served_urls) == sorted(FASHION_IDX_FILES.values())
    files["train-labels-idx1-ubyte.gz"] = gzip.compress(idx_bytes(np.zeros(60000, np.uint8)))
    (no_debian / "data" / "fashion_mnist.npz").unlink()
    with pytest.raises(DataSourceError, match="y_train' does not match"):
        load_fashion_mnist_arrays(use_network=True)


def test_idx_reader_checks_type_and_length():
    array = np.arange(12, dtype=np.uint8).reshape(3, 4)
    np.testing.assert_array_equal(read_idx(idx_bytes(array)), array)
    with pytest.raises(VerificationError, match="promises 24"):
        read_idx(idx_bytes(array)[:-1])
    wrong_type = bytearray(idx_bytes(array))
    wrong_type[2] = 0x0D  # float32
    with pytest.raises(VerificationError, match="type code 0x0d"):
        read_idx(bytes(wrong_type))
    with pytest.raises(VerificationError, match="bad magic"):
        read_idx(b"PK\x03\x04")
