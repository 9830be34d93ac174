"""Issue 22, data loss: femeit never deletes or overwrites what it did not create."""

from __future__ import annotations

import os

import pytest
from robust_common import ROOT, write_config

from femeit.cli import main

pytest.importorskip("zarr")

SPEC = ROOT / "geometries" / "cnn_eim_disk.toml"
UNWRITABLE = "/proc/femeit-no-such-dir/out"  # /proc refuses new folders, even to root


def snapshot(folder):
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_generate_refuses_a_non_empty_foreign_folder_and_keeps_it(tmp_path, capsys):
    config = write_config(tmp_path)
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("years of work")
    (out / "sub").mkdir()
    (out / "sub" / "data.csv").write_text("1,2,3")
    before = snapshot(out)
    for extra in ([], ["--overwrite"]):
        assert main(["dataset", "generate", str(config), "-o", str(out), "--n", "4", "--quiet", *extra]) == 2
        assert "not a femeit dataset" in capsys.readouterr().err
        assert snapshot(out) == before


def test_generate_into_the_current_folder_is_refused(tmp_path, monkeypatch, capsys):
    config = write_config(tmp_path)
    monkeypatch.chdir(tmp_path)
    before = snapshot(tmp_path)
    assert main(["dataset", "generate", str(config), "-o", ".", "--n", "4", "--quiet"]) == 2
    assert "not a femeit dataset" in capsys.readouterr().err
    assert snapshot(tmp_path) == before


def test_generate_to_an_existing_file_is_refused(tmp_path, capsys):
    config = write_config(tmp_path)
    target = tmp_path / "notes.txt"
    target.write_text("keep me")
    assert main(["dataset", "generate", str(config), "-o", str(target), "--n", "4", "--quiet"]) == 2
    assert "existing file" in capsys.readouterr().err and target.read_text() == "keep me"


def test_generate_to_an_unwritable_place_is_a_clear_error(tmp_path, capsys):
    config = write_config(tmp_path)
    assert main(["dataset", "generate", str(config), "-o", UNWRITABLE, "--n", "4", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "cannot" in err and "femeit-no-such-dir" in err


def test_overwrite_replaces_only_a_femeit_store_and_keeps_other_files(tmp_path, capsys):
    config = write_config(tmp_path)
    (tmp_path / "b").mkdir()
    other = write_config(tmp_path / "b", replace=("seed = 5", "seed = 6"))
    out = tmp_path / "ds.zarr"
    assert main(["dataset", "generate", str(config), "-o", str(out), "--n", "4", "--quiet", "--workers", "1"]) == 0
    (out / "README.txt").write_text("my notes about this run")
    # Another configuration: refused without --overwrite, replaced with it.
    assert main(["dataset", "generate", str(other), "-o", str(out), "--n", "4", "--quiet", "--workers", "1"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    args = ["dataset", "generate", str(other), "-o", str(out), "--n", "4", "--quiet", "--workers", "1", "--overwrite"]
    assert main(args) == 0
    assert (out / "README.txt").read_text() == "my notes about this run"
    from femeit import datasets

    assert datasets.open(out).attrs["seed"] == 6


def test_mesh_output_must_not_be_a_folder_or_an_existing_file(tmp_path, capsys):
    folder = tmp_path / "folder.msh"
    folder.mkdir()
    assert main(["mesh", str(SPEC), "-o", str(folder)]) == 2
    assert "existing folder" in capsys.readouterr().err
    existing = tmp_path / "mesh.vtu"
    existing.write_text("not mine")
    assert main(["mesh", str(SPEC), "-o", str(existing)]) == 2
    assert "--overwrite" in capsys.readouterr().err and existing.read_text() == "not mine"
    assert main(["mesh", str(SPEC), "-o", str(existing), "--overwrite"]) == 0
    assert existing.read_text() != "not mine"


def test_mesh_output_in_an_unwritable_place_is_a_clear_error(tmp_path, capsys):
    assert main(["mesh", str(SPEC), "-o", UNWRITABLE + ".msh"]) == 2
    err = capsys.readouterr().err
    assert "cannot create the folder" in err and "Traceback" not in err


def test_mesh_output_below_a_file_is_a_clear_error(tmp_path, capsys):
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    assert main(["mesh", str(SPEC), "-o", str(blocker / "mesh.msh")]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["forward", "jacobian"])
def test_forward_outputs_are_checked_before_any_work(tmp_path, capsys, command):
    assert main([command, str(SPEC), "-o", UNWRITABLE + ".npz"]) == 2
    assert "cannot create the folder" in capsys.readouterr().err
    existing = tmp_path / "v.npz"
    existing.write_bytes(b"precious")
    assert main([command, str(SPEC), "-o", str(existing)]) == 2
    assert existing.read_bytes() == b"precious"
    folder = tmp_path / "dir.csv"
    folder.mkdir()
    assert main([command, str(SPEC), "-o", str(folder)]) == 2
    assert "existing folder" in capsys.readouterr().err


def test_reconstruct_does_not_overwrite_a_png_next_to_its_output(tmp_path, capsys):
    png = tmp_path / "rec.png"
    png.write_bytes(b"my figure")
    args = ["reconstruct", str(SPEC), "--region", "inclusion_1=2", "-o", str(tmp_path / "rec")]
    if "inclusion_1" not in SPEC.read_text():
        args[3] = "domain=2"
    assert main(args) == 2
    assert "rec.png exists" in capsys.readouterr().err and png.read_bytes() == b"my figure"


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_read_only_folder_is_a_clear_error(tmp_path, capsys):  # pragma: no cover - depends on the user
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        assert main(["mesh", str(SPEC), "-o", str(ro / "m.msh")]) == 2
        assert "read-only" in capsys.readouterr().err
    finally:
        ro.chmod(0o755)
