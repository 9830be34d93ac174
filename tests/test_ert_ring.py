"""A closed electrode ring (tree trunk): its mesh, a 2.5D model insulated all round, and its picture."""

import numpy as np
import pytest

from femeit.errors import FemeitError
from femeit.ert import ERTModel, Forward25D, closed_mesh
from femeit.protocol import Protocol


def _ring(n=12):
    a = 2 * np.pi * np.arange(n) / n
    r = 0.2 * (1 + 0.1 * np.cos(3 * a))  # not a circle
    return np.column_stack([r * np.cos(a), r * np.sin(a)])


def test_closed_mesh_follows_the_sensor_polygon():
    e = _ring()
    mesh = closed_mesh(e)
    assert np.allclose(mesh.mesh.p[:, mesh.electrode_nodes].T, e)
    polygon = 0.5 * abs(np.sum(e[:, 0] * np.roll(e[:, 1], -1) - np.roll(e[:, 0], -1) * e[:, 1]))
    assert np.isclose(mesh.areas().sum(), polygon, rtol=1e-10)
    assert mesh.far_facets.size == 0


def test_insulated_ring_readings_are_reciprocal_and_scale_with_resistivity():
    e = _ring()
    mesh = closed_mesh(e)
    abmn = np.array([[0, 6, 2, 3], [1, 4, 8, 9], [3, 9, 5, 7]])
    prot = Protocol.from_abmn(abmn, 12)
    recip = Protocol.from_abmn(abmn[:, [2, 3, 0, 1]], 12)
    fwd = Forward25D(mesh, order=1, boundary="neumann")
    sigma = np.exp(np.random.default_rng(0).normal(0, 0.5, mesh.n_elements))
    r, rr = ERTModel(fwd, prot).simulate(sigma), ERTModel(fwd, recip).simulate(sigma)
    assert np.allclose(r, rr, rtol=1e-8)
    assert np.allclose(ERTModel(fwd, prot).simulate(2 * sigma), r / 2, rtol=1e-8)


def test_closed_mesh_bad_input():
    with pytest.raises(FemeitError, match="ring"):
        closed_mesh(np.zeros((2, 2)))
    e = _ring()
    with pytest.raises(FemeitError, match="same position"):
        closed_mesh(np.vstack([e[:3], e[2:3], e[3:]]))
    bow = np.array([[0.0, 0.0], [1.0, 1.0], [1.0, 0.0], [0.0, 1.0]])  # a bow tie
    with pytest.raises(FemeitError):
        closed_mesh(bow)


def test_cross_section_figure(tmp_path):
    pytest.importorskip("matplotlib")
    from femeit.ert.pictures import plot_cross_section

    mesh = closed_mesh(_ring())
    fig = plot_cross_section(mesh, np.full(mesh.n_elements, 100.0) + mesh.centroids()[:, 0], path=tmp_path / "x.png")
    assert (tmp_path / "x.png").stat().st_size > 3000 and fig is not None
    with pytest.raises(FemeitError, match="positive"):
        plot_cross_section(mesh, -np.ones(mesh.n_elements))
