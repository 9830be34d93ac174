"""Curved (second-order) geometry: exact surfaces, and the accuracy it buys against an exact solution."""

import numpy as np
import pytest

import femeit as fe
from femeit.analytic import layered_ball_point_potentials, protocol_voltages
from femeit.errors import FemeitError
from femeit.forward import ForwardModel
from femeit.geometry.curved import QuadricSurface, curved_mesh, spec_spheres, spec_surfaces
from femeit.protocol import Protocol


@pytest.fixture(scope="module")
def ball():
    spec = fe.BallSpec(radius=1.0, h=0.2, h_electrode=0.05, inner_radius=0.5)
    return spec, fe.mesh_from_spec(spec)


def test_mid_edge_nodes_lie_on_the_spheres(ball):
    spec, straight = ball
    curved = curved_mesh(straight)
    assert [r for _, r in spec_spheres(spec)] == [1.0, 0.5]
    n_vertices = straight.n_nodes
    np.testing.assert_array_equal(curved.mesh.p[:, :n_vertices], straight.mesh.p)
    np.testing.assert_array_equal(curved.mesh.t, straight.mesh.t)  # element order (and regions) kept
    radii = np.linalg.norm(curved.mesh.p[:, n_vertices:], axis=0)
    # The straight mesh's mid nodes of surface edges sit inside the spheres; curved ones on them.
    mids = 0.5 * (straight.mesh.p[:, straight.mesh.edges[0]] + straight.mesh.p[:, straight.mesh.edges[1]])
    on_outer = np.isclose(radii, 1.0, atol=1e-12)
    assert on_outer.sum() > 100 and np.all(np.linalg.norm(mids[:, on_outer], axis=0) < 1.0 - 1e-4)
    assert np.isclose(radii, 0.5, atol=1e-12).sum() > 100
    assert curved.electrodes == straight.electrodes
    np.testing.assert_array_equal(curved.element_region, straight.element_region)


def test_curving_removes_the_volume_deficit_and_most_of_the_error(ball):
    spec, straight = ball
    protocol = Protocol.adjacent(16)
    pos = np.array(spec.electrode_centres())
    exact = protocol_voltages(protocol, layered_ball_point_potentials(pos, 1.0, 1.0, 0.5, 10.0, protocol.injections))
    errors, volumes = {}, {}
    for name, mesh in (("straight", straight), ("curved", curved_mesh(straight))):
        model = ForwardModel(mesh, protocol, electrode_model="point", order=2)
        v = model.simulate({"domain": 1.0, "inclusion_inner": 10.0})
        errors[name] = np.abs(v - exact).max() / np.abs(exact).max()
        volumes[name] = model.basis.dx.sum() / (4 / 3 * np.pi)
    assert volumes["straight"] < 0.995 and abs(volumes["curved"] - 1) < 1e-4
    # Measured: straight 4.3e-3, curved 1.1e-3 (h 0.2, 17k tetrahedra).
    assert errors["curved"] < 0.5 * errors["straight"]
    assert errors["curved"] < 2e-3


def test_curving_refuses_bad_input(ball):
    _, straight = ball
    with pytest.raises(FemeitError, match="already second order"):
        curved_mesh(curved_mesh(straight))
    with pytest.raises(FemeitError, match="no facet"):
        curved_mesh(straight, [(np.zeros(3), 0.7)])
    with pytest.raises(FemeitError, match="positive radius"):
        curved_mesh(straight, [(np.zeros(3), -1.0)])
    with pytest.raises(FemeitError, match="is 2D but the mesh is 3D"):
        curved_mesh(straight, [(np.zeros(2), 1.0)])
    with pytest.raises(FemeitError, match="QuadricSurface"):
        curved_mesh(straight, surfaces=[(np.zeros(3), 1.0)])


@pytest.fixture(scope="module")
def tank():
    spec = fe.CylinderSpec(
        radius=0.1,
        height=0.1,
        rings=(
            fe.ElectrodeRing(z=0.05, n_electrodes=8, shape="rectangle", electrode_width=0.02, electrode_height=0.03),
        ),
        inclusions=(fe.CylinderInclusion(0.02, -0.01, 0.02, 0.08, 0.04),),
        h=0.04,
        h_electrode=0.02,
    )
    return spec, fe.mesh_from_spec(spec)


def test_a_cylinder_wall_is_curved_and_its_caps_stay_flat(tank):
    spec, straight = tank
    curved = curved_mesh(straight)
    surfaces = spec_surfaces(spec)
    assert [s.axial for s in surfaces] == [True, True]  # the tank's wall and the inclusion's
    n_vertices = straight.n_nodes
    mids = curved.mesh.p[:, n_vertices:]
    chords = 0.5 * (straight.mesh.p[:, straight.mesh.edges[0]] + straight.mesh.p[:, straight.mesh.edges[1]])
    moved = np.linalg.norm(mids - chords, axis=0) > 1e-12
    # Every moved mid node is on a wall (radius 0.1 about the axis, or 0.04 about the inclusion's axis),
    # at its chord's height, and both walls have many (a vertical edge's chord is on the wall already).
    radius_tank = np.hypot(mids[0], mids[1])
    radius_inclusion = np.hypot(mids[0] - 0.02, mids[1] + 0.01)
    on_tank = np.isclose(radius_tank, 0.1, rtol=1e-12)
    on_inclusion = np.isclose(radius_inclusion, 0.04, rtol=1e-12)
    assert (moved & on_tank).sum() > 50 and (moved & on_inclusion).sum() > 20
    assert np.all((on_tank | on_inclusion)[moved])
    np.testing.assert_allclose(mids[2, moved], chords[2, moved], rtol=0, atol=1e-15)
    # The caps' chords (both ends on a rim, at one height) are not moved off the flat caps.
    for z in (0.0, 0.1):
        cap = np.isclose(chords[2], z, atol=1e-12)
        np.testing.assert_allclose(mids[:, cap & ~on_tank], chords[:, cap & ~on_tank], rtol=0, atol=1e-15)


def test_curving_a_cylinder_gives_its_volume_and_electrode_areas(tank):
    _, straight = tank
    errors = {}
    for name, mesh in (("straight", straight), ("curved", curved_mesh(straight))):
        model = ForwardModel(mesh, Protocol.adjacent(8), order=2)
        volume = model.basis.dx.sum() / (np.pi * 0.1**2 * 0.1)
        inclusion = model.basis.dx[mesh.region("inclusion_1")].sum() / (np.pi * 0.04**2 * 0.06)
        areas = model.discretization.electrode_size / (0.02 * 0.03)  # width is arc length on the wall
        errors[name] = np.abs([volume - 1, inclusion - 1, *(areas - 1)])
    # Measured: straight 4.5e-3, 2.9e-3 and up to 4.1e-4; curved 1.8e-6, 6.3e-7 and 3.8e-7.
    assert np.all(errors["straight"][:2] > 1e-3)
    assert np.all(errors["curved"] < 1e-5)
    assert np.all(errors["curved"] < errors["straight"] / 100)


def test_ellipse_and_ellipsoid_inclusions_are_curved_to_their_exact_size():
    square = fe.Outline(shape="polygon", points=((-0.1, -0.1), (0.1, -0.1), (0.1, 0.1), (-0.1, 0.1)))
    ellipse = fe.EllipseInclusion(0.01, -0.01, 0.06, 0.03, angle_deg=30)
    areas = {}
    for h in (0.01, 0.005):  # the inclusion's own size (about 0.01 here) rules above h 0.01
        ring = fe.OutlineRing(n_electrodes=8, shape="point")
        spec = fe.ContourSpec(outline=square, rings=(ring,), inclusions=(ellipse,), h=h)
        straight = fe.mesh_from_spec(spec)
        for name, mesh in (("straight", straight), ("curved", curved_mesh(straight))):
            model = ForwardModel(mesh, Protocol.adjacent(8), electrode_model="point", order=2)
            areas[name, h] = abs(model.basis.dx[mesh.region("inclusion_1")].sum() / (np.pi * 0.06 * 0.03) - 1)
    # Measured: straight 3.2e-3 and 2.2e-3, curved 9.9e-7 and 4.7e-7.
    assert areas["curved", 0.01] < areas["straight", 0.01] / 1000
    assert areas["curved", 0.005] < areas["curved", 0.01]
    ring = fe.OutlineRing(n_electrodes=8, shape="rectangle", z=0.05, width=0.01, height=0.01)
    ellipsoid = fe.EllipsoidInclusion(0.01, -0.01, 0.05, 0.05, 0.04, 0.03)
    (surface,) = spec_surfaces(fe.ExtrudedSpec(outline=square, height=0.1, rings=(ring,), inclusions=(ellipsoid,)))
    on = surface.project(np.array([[0.3], [-0.2], [0.7]]))
    assert np.isclose(surface.level(on), 1.0) and np.isclose(
        ((on.ravel() - [0.01, -0.01, 0.05]) ** 2 / np.array([0.05, 0.04, 0.03]) ** 2).sum(), 1.0
    )


def test_outlines_are_not_taken_as_exact_surfaces():
    ellipse = fe.Outline(shape="ellipse", a=0.15, b=0.1)
    assert spec_surfaces(fe.ContourSpec(outline=ellipse, rings=(fe.OutlineRing(n_electrodes=8),))) == []


def test_a_cylinders_flat_caps_are_never_curved_even_with_all_their_vertices_on_the_rim():
    # One cube of six tetrahedra: all eight corners lie on the cylinder x^2 + y^2 = 2, and each
    # cap (z = +-1) is two triangles of rim vertices whose diagonal passes through the axis.
    import skfem

    cube = skfem.MeshTet.init_tensor(*(np.array([-1.0, 1.0]),) * 3)
    corners = cube.p.T
    mesh = fe.EITMesh.from_arrays(corners, cube.t.T, [[i] for i in range(8)])
    wall = QuadricSurface.vertical_cylinder(0.0, 0.0, np.sqrt(2.0))
    curved = curved_mesh(mesh, surfaces=[wall])
    mids = curved.mesh.p[:, 8:]
    assert np.all(np.isfinite(mids))
    on_cap = np.isclose(np.abs(mids[2]), 1.0)
    on_wall = np.isclose(np.hypot(mids[0], mids[1]), np.sqrt(2.0))
    # Cap diagonals stay at their chords' midpoints (on the axis); the rim's edges go to the wall.
    assert np.any(on_cap & (np.hypot(mids[0], mids[1]) < 1e-12))
    assert np.all(on_wall[on_cap & (np.hypot(mids[0], mids[1]) > 1e-12)])


def test_an_edge_across_a_surface_is_refused_not_folded():
    # One tetrahedron on the unit sphere: its equatorial face has an edge spanning 130 degrees.
    angles = np.radians([0.0, 130.0, 250.0])
    nodes = np.vstack([np.c_[np.cos(angles), np.sin(angles), np.zeros(3)], [0.0, 0.0, 1.0]])
    mesh = fe.EITMesh.from_arrays(nodes, [[0, 1, 2, 3]], [[i] for i in range(4)])
    with pytest.raises(FemeitError, match="too coarse to curve"):
        curved_mesh(mesh, [(np.zeros(3), 1.0)])


def _on_unit_sphere(polar_deg, azimuth_deg) -> np.ndarray:
    t, p = np.broadcast_arrays(np.radians(polar_deg), np.radians(azimuth_deg))
    return np.c_[np.sin(t) * np.cos(p), np.sin(t) * np.sin(p), np.cos(t)].reshape(-1, 3)


def _cap_tetrahedron(top_polar_deg: float) -> fe.EITMesh:
    """One flat tetrahedron with all four vertices on the unit sphere: three on a ring at 40 degrees, one above it."""
    nodes = np.vstack([_on_unit_sphere(40.0, [0.0, 120.0, 240.0]), _on_unit_sphere(top_polar_deg, 180.0)])
    return fe.EITMesh.from_arrays(nodes, [[0, 1, 2, 3]], [[i] for i in range(4)])


def _radially_curved_ratio(mesh: fe.EITMesh) -> float:
    """The element's Jacobian ratio with every mid-edge node moved onto the unit sphere."""
    import skfem

    from femeit.geometry import curved as curved_module

    lin = mesh.mesh
    nodes = skfem.MeshTet2.from_mesh(lin).doflocs.copy()
    nodes[:, 4:] /= np.linalg.norm(nodes[:, 4:], axis=0)
    return curved_module._jacobian_ratios(lin, nodes, lin.t2e, np.arange(1))[0]


@pytest.mark.parametrize("top_polar_deg", [36.0, 0.0])
def test_an_element_that_curving_would_fold_keeps_its_edges_straight(top_polar_deg):
    # All four faces lie on the sphere; the base's edges bulge towards the top vertex. With the
    # top vertex near the ring (36 degrees: a sliver) the element folds (ratio -1.4); with it at
    # the pole it nearly does (0.05). Either way its edges stay straight, with a warning.
    from femeit.geometry import curved as curved_module

    mesh = _cap_tetrahedron(top_polar_deg)
    assert _radially_curved_ratio(mesh) < (0 if top_polar_deg else curved_module.MIN_JACOBIAN_RATIO)
    sphere = QuadricSurface.sphere(np.zeros(3), 1.0)
    with pytest.warns(RuntimeWarning, match=r"left straight \(6 on the sphere"):
        curved = curved_mesh(mesh, surfaces=[sphere])
    assert curved.info["straight_surface_edges"] == 6
    # Every mid node is back at its chord's midpoint: the element is its straight self, whose ratio is 1.
    lin = mesh.mesh
    np.testing.assert_allclose(curved.mesh.p[:, 4:], lin.p[:, lin.edges].mean(axis=1), atol=1e-15)
    ratios = curved_module._jacobian_ratios(lin, curved.mesh.doflocs, lin.t2e, np.arange(1))
    np.testing.assert_allclose(ratios, 1.0)


def test_a_sound_curved_element_keeps_its_curved_edges():
    # A tall cap element (top vertex at the pole of a ring at 80 degrees) curves without folding.
    nodes = np.vstack([_on_unit_sphere(80.0, [0.0, 120.0, 240.0]), [[0.0, 0.0, 1.0]]])
    mesh = fe.EITMesh.from_arrays(nodes, [[0, 1, 2, 3]], [[i] for i in range(4)])
    assert _radially_curved_ratio(mesh) > 0.1
    curved = curved_mesh(mesh, surfaces=[QuadricSurface.sphere(np.zeros(3), 1.0)])
    assert curved.info["straight_surface_edges"] == 0
    np.testing.assert_allclose(np.linalg.norm(curved.mesh.p[:, 4:], axis=0), 1.0)


def test_jacobian_ratios_match_scikit_fem_and_sound_elements_stay_curved(ball):
    import skfem

    curved = curved_mesh(ball[1])
    assert curved.info["straight_surface_edges"] == 0
    from femeit.geometry import curved as curved_module

    m, lin = curved.mesh, ball[1].mesh
    elements = np.arange(0, lin.t.shape[1], 97)
    ratios = curved_module._jacobian_ratios(lin, m.doflocs, lin.t2e, elements)
    # The same determinants from scikit-fem's own quadratic mapping at the sample points.
    rule, _ = skfem.quadrature.get_quadrature(skfem.ElementTetP2().refdom, 4)
    det = m.mapping().detDF(rule)[elements]
    corner = lin.p[:, lin.t[:, elements]]
    straight = np.linalg.det(np.moveaxis(corner[:, 1:] - corner[:, :1], -1, 0))
    assert np.all(ratios <= (det / straight[:, None]).min(axis=1) + 1e-12)
    assert 0.5 < ratios.min() and ratios.max() <= 1.0 + 1e-12


def test_curving_a_disk_gives_its_electrodes_their_exact_arc_length():
    # 2D CEM: each electrode is an arc of 0.3 of the unit circle; its straight chords fall short.
    mesh = fe.mesh_from_spec(fe.CircleSpec(radius=1.0, electrode_width=0.3, h=0.2, h_electrode=0.1))
    errors = {}
    for name, m in (("straight", mesh), ("curved", curved_mesh(mesh))):
        model = ForwardModel(m, Protocol.adjacent(16), 0.01, order=2)
        errors[name] = np.abs(model.discretization.electrode_size / 0.3 - 1).max()
    assert errors["straight"] > 1e-4  # measured 4.2e-4
    assert errors["curved"] < 1e-6  # measured 1.0e-7


def test_nothing_to_curve_is_said_not_silent():
    import skfem

    cube = skfem.MeshTet.init_tensor(*(np.linspace(-1.0, 1.0, 3),) * 3)
    mesh = fe.EITMesh.from_arrays(cube.p.T, cube.t.T, [[0], [1]])  # imported: no spec
    with pytest.warns(RuntimeWarning, match="no curved surface.*the mesh has no spec"):
        curved = curved_mesh(mesh)
    np.testing.assert_allclose(curved.mesh.p[:, 27:], cube.p[:, cube.edges].mean(axis=1))  # straight edges
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        curved_mesh(mesh, surfaces=[])  # asked for explicitly: no warning


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: QuadricSurface.sphere((0.0, 0.0, 0.0), np.inf), "positive radius"),
        (lambda: QuadricSurface.sphere((0.0, np.nan, 0.0), 1.0), "finite coordinates"),
        (lambda: QuadricSurface.ellipse((0.0, 0.0), 1.0, 0.5, angle_deg=np.nan), "finite angle"),
        (lambda: QuadricSurface.ellipsoid((0.0, 0.0, 0.0), (1.0, np.inf, 1.0)), "positive semi-axes"),
        (lambda: QuadricSurface.vertical_cylinder(0.0, 0.0, -1.0), "positive radii"),
        (lambda: QuadricSurface(np.zeros(3), np.zeros((3, 3))), "singular"),
        (lambda: QuadricSurface(np.zeros(3), np.diag([1.0, 0.0, 0.0])), "singular"),
        (lambda: QuadricSurface(np.zeros(3), np.eye(2)), "square matrix"),
        (lambda: QuadricSurface(np.zeros(4), np.eye(4)), "2 or 3 coordinates"),
        (lambda: QuadricSurface(np.zeros(2), np.full((2, 2), np.nan)), "non-finite"),
    ],
)
def test_a_quadric_surface_refuses_what_is_no_closed_surface(make, message):
    with pytest.raises(FemeitError, match=message):
        make()


def test_curved_mesh_names_malformed_arguments(ball):
    mesh = ball[1]
    for spheres in ("abc", 3.0, [(np.zeros(3),)], (np.zeros(3), 1.0), [(np.zeros(3), "one")]):
        with pytest.raises(FemeitError, match=r"\(centre, radius\) pair"):
            curved_mesh(mesh, spheres)
    with pytest.raises(FemeitError, match="needs an EITMesh"):
        curved_mesh("mesh.msh")
    # One surface alone is taken as a list of one.
    one = curved_mesh(mesh, surfaces=QuadricSurface.sphere(np.zeros(3), 1.0))
    assert one.info["curved_surfaces"] == 1
