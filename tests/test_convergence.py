"""The convergence study (issue 24): rates against the analytic disk, a finer-mesh reference, bad input."""

import numpy as np
import pytest

import femeit as fe
from femeit.convergence import convergence_study, fitted_rate, refined

DISK = fe.CircleSpec(radius=1.0, n_electrodes=16, electrode_width=0.2, h=0.2)


@pytest.fixture(scope="module")
def disk_study():
    return convergence_study(DISK, orders=(1, 2), levels=3)


def test_disk_cem_rates_against_the_fourier_series(disk_study):
    """P1 and P2 readings converge at about h^2 (the CEM's edge singularities cap P2 near 2, not 3)."""
    assert disk_study.reference.startswith("analytic: disk")
    assert list(disk_study.sizes) == pytest.approx([0.2, 0.1, 0.05])
    assert np.all(np.diff(disk_study.n_elements) > 0)
    assert 1.5 <= disk_study.rates[1] <= 2.3
    assert 1.5 <= disk_study.rates[2] <= 2.5
    assert np.all(disk_study.errors[2] < disk_study.errors[1])  # P2 is the more accurate on every mesh
    assert disk_study.errors[1][-1] < 3e-3


def test_a_finer_mesh_reference_gives_the_same_picture():
    study = convergence_study(DISK, orders=(1,), levels=2, reference="finer")
    assert study.reference.startswith("finer mesh: h = 0.05")
    assert 1.2 <= study.rates[1] <= 2.5


def test_table_plot_and_rate(disk_study, tmp_path):
    pytest.importorskip("matplotlib")
    text = disk_study.table()
    assert "P1 error" in text and f"{disk_study.rates[1]:.2f}" in text
    fig = disk_study.plot(path=tmp_path / "c.png", dpi=60)
    assert fig.rates == pytest.approx([disk_study.rates[1], disk_study.rates[2]])
    assert (tmp_path / "c.png").stat().st_size > 1000
    assert fitted_rate([1, 0.5, 0.25], [1, 0.125, 0.015625]) == pytest.approx(3.0)


def test_refined_divides_every_mesh_size():
    small = refined(DISK, 2.0)
    assert small.h == pytest.approx(0.1) and small.h_electrode == pytest.approx(DISK.electrode_mesh_size / 2)
    line = fe.HalfspaceLineSpec(dim=3)
    fine = refined(line, 4.0)
    assert fine.sizes["survey"] == pytest.approx(line.sizes["survey"] / 4)
    assert fine.sizes["electrode"] == pytest.approx(line.sizes["electrode"] / 4)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"levels": 1}, "levels"),
        ({"orders": (3,)}, "orders"),
        ({"refinement": 1.0}, "refinement"),
        ({"reference": "exact"}, "reference"),
    ],
)
def test_bad_input_is_refused_by_name(kwargs, message):
    with pytest.raises(fe.FemeitError, match=message):
        convergence_study(DISK, **kwargs)


def test_no_analytic_reference_is_said(tmp_path):
    spec = fe.CircleSpec(radius=1.0, h=0.3, inclusions=(fe.CircleInclusion(0.3, 0.0, 0.2),))
    with pytest.raises(fe.FemeitError, match="no analytic reference"):
        convergence_study(spec, reference="analytic", levels=2)


def test_cli_convergence(tmp_path, capsys):
    from femeit.cli import main

    spec = tmp_path / "disk.toml"
    spec.write_text('kind = "circle"\nradius = 1.0\nelectrode_width = 0.2\nh = 0.2\n')
    assert main(["convergence", str(spec), "--orders", "1", "--levels", "2", "-o", str(tmp_path / "c")]) == 0
    out = capsys.readouterr().out
    assert "analytic: disk" in out and (tmp_path / "c.txt").exists() and (tmp_path / "c.png").exists()
    assert main(["convergence", str(spec), "--orders", "1", "--levels", "2", "-o", str(tmp_path / "c")]) == 2
