"""Mesh cache and the ``femeit mesh`` command."""

import subprocess
import sys
from pathlib import Path

import numpy as np

import femeit as fe
from femeit.cli import main
from femeit.geometry.cache import MeshCache

ROOT = Path(__file__).parent.parent


def test_cache_hit_returns_the_same_mesh(tmp_path):
    spec = fe.CylinderSpec(h=0.02)
    first = fe.mesh_from_spec(spec, cache_dir=tmp_path)
    assert first.info["cache_hit"] is False
    second = fe.mesh_from_spec(spec, cache_dir=tmp_path)
    assert second.info["cache_hit"] is True  # the time is measured by benchmarks/, not asserted here
    assert np.array_equal(first.points, second.points)
    assert np.array_equal(first.elements, second.elements)
    for a, b in zip(first.electrodes, second.electrodes, strict=True):
        assert np.array_equal(a.facets, b.facets) and a.size == b.size
    # A different spec is a different entry.
    third = fe.mesh_from_spec(fe.CylinderSpec(h=0.021), cache_dir=tmp_path)
    assert third.info["cache_hit"] is False
    assert len(list(tmp_path.glob("*.npz"))) == 2


def test_corrupt_cache_entry_is_rebuilt(tmp_path):
    spec = fe.CircleSpec(h=0.2)
    fe.mesh_from_spec(spec, cache_dir=tmp_path)
    MeshCache(tmp_path).path(spec).write_bytes(b"garbage")
    again = fe.mesh_from_spec(spec, cache_dir=tmp_path)
    assert again.info["cache_hit"] is False and again.n_elements > 0


def test_cli_mesh_prints_summary_and_writes(tmp_path, capsys):
    out = tmp_path / "tank.msh"
    assert main(["mesh", str(ROOT / "geometries" / "ktc2023_tank.toml"), "-o", str(out), "--h", "0.01"]) == 0
    text = capsys.readouterr().out
    assert "32 electrodes" in text and "e32: length 0.0112" in text
    assert fe.read_mesh(out).n_electrodes == 32
    assert main(["mesh", str(out)]) == 0


def test_cli_errors_are_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text("kind = 'circle'\nradius = -1.0\n")
    assert main(["mesh", str(bad)]) == 2
    assert "radius must be positive" in capsys.readouterr().err
    assert main(["mesh", str(ROOT / "geometries" / "ball_ring.toml"), "--h-electrode", "0"]) == 2
    assert "h_electrode must be positive" in capsys.readouterr().err


def test_console_script_runs():
    result = subprocess.run([sys.executable, "-m", "femeit", "mesh", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "--no-cache" in result.stdout
