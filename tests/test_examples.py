"""Examples are runnable scripts that end with a number check: run them."""

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).parent.parent / "examples").glob("*.py"))


@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: p.stem)
def test_example_runs_and_passes_its_checks(script, tmp_path):
    result = subprocess.run([sys.executable, str(script), "--out", str(tmp_path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_contract_geo_example_meshes_and_imports():
    import math

    import femeit as fe

    mesh = fe.read_mesh(Path(__file__).parent.parent / "examples" / "contract_disk.geo")
    assert mesh.n_electrodes == 4 and mesh.region_names == ("domain", "inclusion_small")
    for e, angle in zip(mesh.electrodes, (0.0, 90.0, 180.0, 270.0), strict=True):
        assert abs(e.size - 0.1 * math.pi / 6) / (0.1 * math.pi / 6) < 1e-3  # 30 degrees of arc
        assert abs(math.degrees(math.atan2(e.centre[1], e.centre[0])) % 360 - angle) < 1e-6
    area = mesh.element_measures()[mesh.region("inclusion_small")].sum()
    assert abs(area - math.pi * 0.025**2) / (math.pi * 0.025**2) < 0.01
