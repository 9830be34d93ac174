"""Issue 22, stores: never call a corrupt store OK, repair exactly the damage, lock, resume any interruption."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from robust_common import chunk_file, write_config

from femeit import datasets
from femeit.cli import main
from femeit.datasets.storedir import CREATING, writer_lock
from femeit.errors import FemeitError

zarr = pytest.importorskip("zarr")

N, CHUNK = 12, 4


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    """A complete 12-sample store (3 chunks of 4), copied by each test that damages it."""
    folder = tmp_path_factory.mktemp("pristine")
    config = datasets.load_config(write_config(folder))
    path = folder / "ds.zarr"
    datasets.generate(config, path, N, workers=1, chunk_size=CHUNK, progress=False)
    return config, path


@pytest.fixture
def store(pristine, tmp_path):
    config, path = pristine
    copy = tmp_path / "ds.zarr"
    shutil.copytree(path, copy)
    return config, copy


def read(path, name):
    return zarr.open_group(str(path), mode="r")[name][:]


def test_intact_store_verifies_ok_and_every_chunk_is_checked(store):
    _, path = store
    report = datasets.verify(path, n_check=2)
    assert report.ok, report.problems
    assert report.checked_chunks == 3 and report.damaged == []


def test_flipped_bytes_in_an_images_chunk_are_found_and_named(store):
    _, path = store
    # Decompress, flip 16 bytes of sample 5's image, write the chunk back with
    # zarr (valid compression: only a checksum can see it).
    group = zarr.open_group(str(path), mode="r+")
    image = group["images"][5]
    raw = bytearray(image.tobytes())
    for k in range(16):
        raw[k] ^= 0xFF
    group["images"][5] = np.frombuffer(bytes(raw), dtype=image.dtype).reshape(image.shape)
    report = datasets.verify(path, n_check=0)
    assert not report.ok
    assert report.damaged == [5]
    assert any("images chunk 1" in p and "5" in p for p in report.problems)


def test_raw_byte_flip_in_a_chunk_file_is_not_ok(store):
    _, path = store
    target = chunk_file(path, "images", 2)
    data = bytearray(target.read_bytes())
    mid = len(data) // 2
    data[mid : mid + 16] = bytes(b ^ 0xFF for b in data[mid : mid + 16])
    target.write_bytes(bytes(data))
    report = datasets.verify(path, n_check=0)
    assert not report.ok
    assert set(report.damaged) <= set(range(8, 12)) and report.damaged
    assert any("images chunk 2" in p for p in report.problems)


@pytest.mark.parametrize("name", ["images", "voltages", "objects"])
def test_a_chunk_replaced_by_another_is_found(store, name):
    _, path = store
    shutil.copyfile(chunk_file(path, name, 0), chunk_file(path, name, 1))
    report = datasets.verify(path, n_check=0)
    assert not report.ok
    assert set(report.damaged) == set(range(4, 8))
    assert any(f"{name} chunk 1" in p for p in report.problems)


def test_a_deleted_chunk_file_is_found(store):
    _, path = store
    chunk_file(path, "images", 1).unlink()
    report = datasets.verify(path, n_check=0)
    assert not report.ok and set(report.damaged) == set(range(4, 8))


def test_truncated_voltages_chunk_is_named_and_repaired_exactly(store, capsys):
    config, path = store
    target = chunk_file(path, "voltages", 2)
    target.write_bytes(target.read_bytes()[:20])
    report = datasets.verify(path, n_check=0)
    assert not report.ok and set(report.damaged) == set(range(8, 12))
    assert any("voltages chunk 2" in p and "cannot be read" in p for p in report.problems)
    before = {name: read(path, name) for name in ("images", "sigma")}
    # Without --repair a rerun computes nothing; with it, exactly the damage.
    result = datasets.generate(config, path, N, workers=1, chunk_size=CHUNK, progress=False, repair=True)
    assert result.computed == 4
    assert datasets.verify(path, n_check=N).ok
    for name, values in before.items():
        assert np.array_equal(read(path, name), values)


def test_repair_recomputes_only_the_damaged_sample(store, monkeypatch):
    config, path = store
    group = zarr.open_group(str(path), mode="r+")
    good = group["voltages"][:]
    group["voltages"][6, 0] = 123.0
    from femeit.datasets.simulator import Simulator

    computed = []
    original = Simulator.compute_range

    def spy(self, start, stop):
        computed.append((start, stop))
        return original(self, start, stop)

    monkeypatch.setattr(Simulator, "compute_range", spy)
    report = datasets.generate(config, path, N, workers=1, chunk_size=CHUNK, progress=False, repair=True)
    assert computed == [(6, 7)] and report.computed == 1
    assert np.array_equal(read(path, "voltages"), good)


def test_cli_verify_prints_failed_and_damaged_samples(store, capsys):
    _, path = store
    chunk_file(path, "images", 1).unlink()
    assert main(["dataset", "verify", str(path), "--samples", "0"]) == 1
    out = capsys.readouterr().out
    assert "FAILED" in out and "damaged samples (4): 4, 5, 6, 7" in out


def test_damaged_metadata_is_a_clear_error(store, capsys):
    _, path = store
    (path / "zarr.json").write_text('{"zarr_format": 3, "node_type": "gro')
    assert main(["dataset", "verify", str(path)]) == 2
    err = capsys.readouterr().err
    assert "metadata cannot be read" in err and "Traceback" not in err


def test_damaged_progress_record_is_a_clear_error(store, capsys):
    _, path = store
    chunk_file(path, "progress", 0).write_bytes(b"\x00garbage")
    assert main(["dataset", "verify", str(path)]) == 2
    assert "progress record cannot be read" in capsys.readouterr().err


def test_second_writer_is_refused_with_a_clear_message(store):
    config, path = store
    with writer_lock(path):
        with pytest.raises(FemeitError, match="being written by another femeit process"):
            datasets.generate(config, path, N, workers=1, chunk_size=CHUNK, progress=False)


def test_interrupted_creation_is_resumable(tmp_path, monkeypatch):
    config = datasets.load_config(write_config(tmp_path))
    path = tmp_path / "new.zarr"
    from femeit.datasets.simulator import Simulator

    original = Simulator.compute

    def killed(self, index):
        raise KeyboardInterrupt  # as if killed after the group was made, before its arrays

    monkeypatch.setattr(Simulator, "compute", killed)
    with pytest.raises(KeyboardInterrupt):
        datasets.generate(config, path, N, workers=1, chunk_size=CHUNK, progress=False)
    assert (path / CREATING).exists() and (path / "zarr.json").exists()
    monkeypatch.setattr(Simulator, "compute", original)
    datasets.generate(config, path, N, workers=1, chunk_size=CHUNK, progress=False)
    assert datasets.verify(path, n_check=1).ok and not (path / CREATING).exists()


def test_group_without_attributes_from_a_kill_is_resumable(tmp_path):
    """The state the issue found: zarr.json written, attributes not (a kill in between)."""
    config = datasets.load_config(write_config(tmp_path))
    path = tmp_path / "new.zarr"
    path.mkdir()
    (path / CREATING).write_text("")
    (path / "zarr.json").write_text(json.dumps({"zarr_format": 3, "node_type": "group", "attributes": {}}))
    datasets.generate(config, path, N, workers=1, chunk_size=CHUNK, progress=False)
    assert datasets.verify(path, n_check=0).ok
