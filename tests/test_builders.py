"""gmsh builders: geometry as built matches the spec (the acceptance figures of the geometry issue)."""

import math

import numpy as np
import pytest

import femeit as fe
from femeit.geometry.ball import spherical_cap_area
from femeit.geometry.cylinder import circular_patch_area


def _angle_deg(v):
    return math.degrees(math.atan2(v[1], v[0]))


def _angle_diff(a, b):
    return abs((a - b + 180.0) % 360.0 - 180.0)


@pytest.mark.parametrize("direction", ["ccw", "cw"])
def test_circle_electrodes_and_area(direction):
    spec = fe.CircleSpec(
        radius=1.0,
        n_electrodes=16,
        electrode_width=0.1,
        first_angle_deg=30.0,
        direction=direction,
        inclusions=(fe.CircleInclusion(0.3, -0.2, 0.25),),
    )
    mesh = fe.mesh_from_spec(spec)
    assert mesh.dim == 2 and mesh.n_electrodes == 16
    assert [e.name for e in mesh.electrodes] == [f"e{k:02d}" for k in range(1, 17)]
    for e, angle in zip(mesh.electrodes, spec.electrode_angles_deg(), strict=True):
        assert abs(e.size - 0.1) / 0.1 < 0.005  # arc length within 0.5 %
        assert _angle_diff(_angle_deg(e.centre), angle) < 1e-6
        assert abs(np.linalg.norm(e.centre) - 1.0) < 1e-3
    assert abs(mesh.measure() - math.pi) / math.pi < 0.01
    inc = mesh.region("inclusion_1")
    area_inc = mesh.element_measures()[inc].sum()
    assert abs(area_inc - math.pi * 0.25**2) / (math.pi * 0.25**2) < 0.01
    centroids = mesh.points[mesh.elements[inc]].mean(axis=1)
    assert np.all(np.hypot(centroids[:, 0] - 0.3, centroids[:, 1] + 0.2) < 0.25)


def test_circle_point_electrodes_are_boundary_nodes():
    spec = fe.CircleSpec(radius=0.5, n_electrodes=8, electrode_width=0.0, first_angle_deg=0.0)
    mesh = fe.mesh_from_spec(spec)
    for e, angle in zip(mesh.electrodes, spec.electrode_angles_deg(), strict=True):
        assert e.is_point and e.size == 0.0
        np.testing.assert_allclose(
            mesh.points[e.node], [0.5 * math.cos(math.radians(angle)), 0.5 * math.sin(math.radians(angle))], atol=1e-12
        )


def test_cylinder_circular_and_rectangular_electrodes():
    spec = fe.CylinderSpec(
        radius=0.1,
        height=0.1,
        rings=(
            fe.ElectrodeRing(z=0.03, n_electrodes=8, shape="rectangle", electrode_width=0.02, electrode_height=0.015),
            fe.ElectrodeRing(z=0.07, n_electrodes=8, shape="circle", electrode_radius=0.01, first_angle_deg=22.5),
        ),
        inclusions=(fe.SphereInclusion(0.02, 0.0, 0.05, 0.02),),
    )
    mesh = fe.mesh_from_spec(spec)
    assert mesh.n_electrodes == 16
    exact_circle = circular_patch_area(0.1, 0.01)
    assert exact_circle > math.pi * 0.01**2  # the curved wall adds a little area
    centres = [(r, a) for r in spec.rings for a in r.angles_deg()]
    for e, (ring, angle) in zip(mesh.electrodes, centres, strict=True):
        exact = 0.02 * 0.015 if ring.shape == "rectangle" else exact_circle
        assert abs(e.size - exact) / exact < 0.02  # area within 2 %
        assert _angle_diff(_angle_deg(e.centre), angle) < 0.2
        assert abs(e.centre[2] - ring.z) < 1e-4
        assert abs(np.hypot(*e.centre[:2]) - 0.1) < 1e-3
    volume = math.pi * 0.1**2 * 0.1
    assert abs(mesh.measure() - volume) / volume < 0.01
    sphere = mesh.element_measures()[mesh.region("inclusion_1")].sum()
    assert abs(sphere - 4 / 3 * math.pi * 0.02**3) / (4 / 3 * math.pi * 0.02**3) < 0.03


def test_circular_patch_area_matches_monte_carlo():
    rng = np.random.default_rng(0)
    big_r, r = 0.1, 0.03
    # Sample the wall (theta, z) uniformly and count points within r of the x axis.
    n = 400_000
    theta = rng.uniform(-0.5, 0.5, n)
    z = rng.uniform(-r, r, n)
    inside = (big_r * np.sin(theta)) ** 2 + z**2 <= r**2
    estimate = inside.mean() * (1.0 * big_r) * (2 * r)
    assert abs(circular_patch_area(big_r, r) - estimate) / estimate < 0.01


@pytest.mark.parametrize("dim", [2, 3])
@pytest.mark.parametrize("width", [0.0, 0.2])
def test_halfspace_line(dim, width):
    inc = fe.CircleInclusion(0.0, -1.5, 0.5) if dim == 2 else fe.SphereInclusion(0.0, 0.0, -1.5, 0.5)
    spec = fe.HalfspaceLineSpec(
        dim=dim, n_electrodes=8, spacing=1.0, electrode_width=width, padding=4.0, inclusions=(inc,)
    )
    mesh = fe.mesh_from_spec(spec)
    lo, hi = spec.box()
    np.testing.assert_allclose(mesh.points.min(axis=0), lo, atol=1e-9)
    np.testing.assert_allclose(mesh.points.max(axis=0), hi, atol=1e-9)
    exact = np.prod(np.subtract(hi, lo))
    assert abs(mesh.measure() - exact) / exact < 1e-9  # a box is meshed exactly
    for e, x in zip(mesh.electrodes, spec.electrode_x(), strict=True):
        expected = np.zeros(dim)
        expected[0] = x
        np.testing.assert_allclose(e.centre, expected, atol=1e-9)
        if width == 0:
            assert e.is_point
        else:
            size = width if dim == 2 else math.pi * (width / 2) ** 2
            assert abs(e.size - size) / size < (0.005 if dim == 2 else 0.02)
    inc_measure = mesh.element_measures()[mesh.region("inclusion_1")].sum()
    exact_inc = math.pi * 0.25 if dim == 2 else 4 / 3 * math.pi * 0.125
    assert abs(inc_measure - exact_inc) / exact_inc < 0.03


@pytest.mark.parametrize("electrode_radius", [0.0, 0.1])
def test_ball(electrode_radius):
    spec = fe.BallSpec(
        radius=1.0,
        rings=(fe.BallRing(90, 8), fe.BallRing(45, 4, 45.0)),
        electrode_radius=electrode_radius,
        inner_radius=0.5,
        h=0.2,
    )
    mesh = fe.mesh_from_spec(spec)
    assert mesh.n_electrodes == 12
    for e, c in zip(mesh.electrodes, spec.electrode_centres(), strict=True):
        direction = e.centre / np.linalg.norm(e.centre)
        assert np.linalg.norm(direction - np.asarray(c)) < 1e-3
        if electrode_radius:
            exact = spherical_cap_area(1.0, electrode_radius)
            assert abs(e.size - exact) / exact < 0.02
        else:
            np.testing.assert_allclose(mesh.points[e.node], c, atol=1e-9)
    assert abs(mesh.measure() - 4 / 3 * math.pi) / (4 / 3 * math.pi) < 0.01
    inner = mesh.element_measures()[mesh.region("inclusion_inner")].sum()
    assert abs(inner - 4 / 3 * math.pi * 0.125) / (4 / 3 * math.pi * 0.125) < 0.02


def test_same_spec_gives_identical_mesh_without_cache():
    spec = fe.CylinderSpec(h=0.02)
    a = fe.mesh_from_spec(spec, cache=False)
    b = fe.mesh_from_spec(spec, cache=False)
    assert np.array_equal(a.points, b.points)
    assert np.array_equal(a.elements, b.elements)
    assert all(np.array_equal(x.facets, y.facets) for x, y in zip(a.electrodes, b.electrodes, strict=True))


def test_mesh_sizes_follow_the_spec():
    coarse = fe.mesh_from_spec(fe.CircleSpec(h=0.1, h_electrode=0.05, electrode_width=0.1))
    fine = fe.mesh_from_spec(fe.CircleSpec(h=0.05, h_electrode=0.025, electrode_width=0.1))
    # Halving h roughly quadruples the bulk element count in 2D.
    assert 2.5 < fine.n_elements / coarse.n_elements < 5.0
