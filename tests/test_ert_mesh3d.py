"""The graded 3D half-space mesh of femeit.ert.mesh3d: electrodes, size, accuracy, bad input."""

import numpy as np
import pytest

from femeit.errors import FemeitError
from femeit.ert import wenner_alpha
from femeit.ert.mesh3d import halfspace_mesh_3d
from femeit.forward.model import ForwardModel


@pytest.fixture(scope="module")
def line8():
    e = np.column_stack([np.arange(8.0), np.zeros(8)])
    return e, halfspace_mesh_3d(e)


def test_point_electrodes_are_surface_nodes_in_order(line8):
    e, mesh = line8
    nodes = mesh.mesh.p.T[[el.node for el in mesh.electrodes]]
    np.testing.assert_allclose(nodes, np.column_stack([e, np.zeros(len(e))]), atol=1e-9)
    assert mesh.mesh.p[2].max() <= 1e-12  # the ground z <= 0
    # graded, not uniform: a few thousand tetrahedra for 8 electrodes in a box 5 survey sizes out
    assert 1000 < mesh.mesh.t.shape[1] < 8000


def test_wenner_on_homogeneous_ground_matches_the_half_space(line8):
    _, mesh = line8
    protocol = wenner_alpha(8)
    model = ForwardModel(mesh, protocol, electrode_model="point", order=2)
    r = model.simulate(1 / 100.0)
    a = np.abs(protocol.measurements[:, :8] @ np.arange(8.0)).astype(float)  # |M - N| = a for Wenner
    rhoa = 2 * np.pi * a * r
    # P2 on the graded mesh, insulating box 5 survey sizes out: within 2 % of 100 ohm m before any
    # numeric geometric factor
    assert np.all(np.abs(rhoa / 100 - 1) < 0.02), rhoa


def test_a_finer_grading_is_more_accurate():
    e = np.column_stack([np.arange(4.0), np.zeros(4)])
    errs = []
    for near, growth in ((0.5, 0.6), (0.2, 0.25)):
        mesh = halfspace_mesh_3d(e, near_size=near, growth=growth)
        r = ForwardModel(mesh, wenner_alpha(4), electrode_model="point", order=1).simulate(1.0)
        errs.append(abs(2 * np.pi * r[0] - 1))
    assert errs[1] < 0.6 * errs[0], errs


@pytest.mark.parametrize(
    "electrodes, kwargs, match",
    [
        (np.array([[0.0, 0, 0], [1, 0, -0.5]]), {}, "surface z = 0"),
        (np.array([[0.0, 0], [0.0, 0]]), {}, "share a position"),
        (np.zeros((1, 2)), {}, "L >= 2"),
        (np.array([[0.0, 0], [1, 0]]), {"growth": 0}, "positive"),
        (np.array([[0.0, 0], [1, 0]]), {"layers": [1.0]}, "layer at z = 1"),
        (np.array([[0.0, 0], [1, 0]]), {"boxes": [(0, 1, 0, 1, -1)]}, "a box must be"),
        (np.array([[0.0, 0], [1, 0]]), {"domain": (0.5, 2, -1, 1, -1)}, "must hold every electrode"),
        (np.array([[0.0, 0], [1, 0]]), {"domain": (-1, 2, -1, 1, 0)}, "reach below z = 0"),
        (np.array([[0.0, 0], [1, 0]]), {"domain": (-1, 2, -1, 1)}, r"domain must be \(x0"),
    ],
)
def test_bad_input_is_refused_by_name(electrodes, kwargs, match):
    with pytest.raises(FemeitError, match=match):
        halfspace_mesh_3d(electrodes, **kwargs)


def test_a_given_domain_is_the_tank():
    """``domain`` replaces the padded box: a tank with its electrodes on the water surface."""
    e = np.column_stack([np.linspace(0.1, 0.9, 6), np.r_[np.zeros(3), np.full(3, 0.3)]])
    mesh = halfspace_mesh_3d(e, near_size=0.05, growth=0.5, domain=(0.0, 1.0, -0.1, 0.4, -0.3))
    np.testing.assert_allclose(mesh.mesh.p.min(axis=1), [0.0, -0.1, -0.3], atol=1e-12)
    np.testing.assert_allclose(mesh.mesh.p.max(axis=1), [1.0, 0.4, 0.0], atol=1e-12)
    nodes = mesh.mesh.p.T[[el.node for el in mesh.electrodes]]
    np.testing.assert_allclose(nodes, np.column_stack([e, np.zeros(len(e))]), atol=1e-9)
