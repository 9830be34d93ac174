"""2.5D forward model: wavenumber rules, exact half-space, two-layer and vertical-contact solutions, topography."""

from pathlib import Path

import numpy as np
import pytest
from scipy.special import k0

from femeit.errors import FemeitError
from femeit.ert import (
    dipole_dipole,
    geometric_factor,
    line_positions,
    numeric_geometric_factor,
    pole_dipole,
    wenner_alpha,
)
from femeit.ert.exact import two_layer_green, vertical_contact_green
from femeit.ert.formats import read_unified
from femeit.ert.forward25d import Forward25D, readings, wavenumbers
from femeit.ert.mesh25d import halfplane_mesh

N = 12
X = np.arange(N, dtype=float)
LINE = np.column_stack([X, np.zeros(N)])
PROTOCOLS = {
    "wenner": wenner_alpha(N),
    "dipole-dipole": dipole_dipole(N, n_max=5),
    "pole-dipole": pole_dipole(N, n_max=4),
}


@pytest.mark.parametrize(("method", "tol"), [("trapezoid", 1e-4), ("gauss", 5e-4)])
def test_wavenumber_rules_integrate_the_homogeneous_kernel(method, tol):
    k, w = wavenumbers(1.0, 100.0, method)
    r = np.geomspace(1.0, 100.0, 300)
    approx = (2 / np.pi) * (w[None, :] * k0(k[None, :] * r[:, None])).sum(axis=1)
    err = np.abs(approx * r - 1).max()
    assert err < tol
    # fewer nodes are visibly worse: the figure is not luck
    if method == "gauss":
        k, w = wavenumbers(1.0, 100.0, method, n=(4, 2))
        assert np.abs((2 / np.pi) * (w[None, :] * k0(k[None, :] * r[:, None])).sum(axis=1) * r - 1).max() > 10 * tol
    with pytest.raises(FemeitError):
        wavenumbers(2.0, 1.0)
    with pytest.raises(FemeitError, match="unknown"):
        wavenumbers(1.0, 2.0, "simpson")


RHO = 50.0


@pytest.fixture(scope="module")
def flat():
    return Forward25D(halfplane_mesh(LINE), order=2)


@pytest.fixture(scope="module")
def flat_green(flat):
    return flat.transfer_matrix(1 / RHO)


@pytest.mark.parametrize("name", sorted(PROTOCOLS))
def test_homogeneous_halfspace_apparent_resistivity(flat_green, name):
    p = PROTOCOLS[name]
    rho = RHO
    rhoa = geometric_factor(p, line_positions(N, remote=p.n_electrodes > N)) * readings(flat_green, p)
    err = np.abs(rhoa / rho - 1).max()
    # measured 0.01 % (Wenner) to 0.05 % (dipole-dipole n <= 5) with the default mesh and P2
    assert err < 5e-3


def test_reciprocity_and_positivity(flat_green):
    # The system is symmetric, so G[i, j] = G[j, i] (reciprocity) without any symmetrisation.
    off = ~np.eye(N, dtype=bool)
    assert np.allclose(flat_green[off], flat_green.T[off], rtol=1e-9)
    # Potentials fall with distance from the source.
    assert np.all(np.diff(flat_green[0, 1:]) < 0)


def test_potential_field_on_the_surface_matches_the_half_space(flat):
    inj = np.zeros((1, N + 1))
    inj[0, 3], inj[0, N] = 1.0, -1.0  # electrode 3 to the remote electrode
    u = flat.potentials(1 / RHO, inj)[0]
    xy = flat.basis.doflocs.T
    r = np.linalg.norm(xy - LINE[3], axis=1)
    near_surface = (np.abs(xy[:, 1]) < 1e-12) & (r > 0.5) & (r < 11)
    assert near_surface.sum() > 50
    exact = RHO / (2 * np.pi * r[near_surface])
    assert np.abs(u[near_surface] / exact - 1).max() < 5e-3
    with pytest.raises(FemeitError, match="columns"):
        flat.potentials(1.0, np.ones((1, 3)))


def test_mixed_boundary_condition_beats_an_insulating_one_on_a_small_domain():
    p = PROTOCOLS["dipole-dipole"]
    k = geometric_factor(p, line_positions(N))
    mesh = halfplane_mesh(LINE, extent=2.0)
    mixed = np.abs(k * Forward25D(mesh).transfer_resistances(1.0, p) - 1).max()
    neumann = np.abs(k * Forward25D(mesh, boundary="neumann").transfer_resistances(1.0, p) - 1).max()
    assert mixed < 2e-3 and neumann > 3 * mixed  # measured 0.07 % and 0.50 %


def test_p1_is_less_accurate_but_converges():
    p = PROTOCOLS["wenner"]
    k = geometric_factor(p, line_positions(N))
    coarse = Forward25D(halfplane_mesh(LINE, near_size=0.2), order=1)
    fine = Forward25D(halfplane_mesh(LINE, near_size=0.05, growth=0.15), order=1)
    e_coarse = np.abs(k * coarse.transfer_resistances(1.0, p) - 1).max()
    e_fine = np.abs(k * fine.transfer_resistances(1.0, p) - 1).max()
    assert e_fine < 0.5 * e_coarse


@pytest.mark.parametrize(("rho1", "rho2"), [(100.0, 10.0), (10.0, 100.0)])
def test_two_layer_ground_matches_the_image_series(rho1, rho2):
    h = 2.0
    model = Forward25D(halfplane_mesh(LINE, layers=[-h]), order=2)
    green = model.transfer_matrix(lambda c: np.where(c[:, 1] > -h, 1 / rho1, 1 / rho2))
    exact = two_layer_green(X, rho1, rho2, h)
    for p in PROTOCOLS.values():
        rel = np.abs(readings(green, p) / readings(exact, p) - 1).max()
        assert rel < 5e-3  # measured <= 0.11 % on 24 electrodes, dipole-dipole n <= 6


def test_vertical_contact_matches_the_images():
    xc = 5.5
    model = Forward25D(halfplane_mesh(LINE, interfaces=[np.array([[xc, 0.0], [xc, -60.0]])]), order=2)
    green = model.transfer_matrix(lambda c: np.where(c[:, 0] < xc, 1 / 100.0, 1 / 10.0))
    exact = vertical_contact_green(X, xc, 100.0, 10.0)
    for p in PROTOCOLS.values():
        assert np.abs(readings(green, p) / readings(exact, p) - 1).max() < 5e-3  # measured <= 0.08 %


def test_numeric_geometric_factor_on_a_sloping_surface():
    # A tilted plane is a half-space: K is the flat-ground formula with distances along the slope.
    angle = np.deg2rad(15)
    pos = np.column_stack([X * np.cos(angle), X * np.sin(angle)])
    model = Forward25D(halfplane_mesh(pos, ends="linear"), order=2)
    p = PROTOCOLS["dipole-dipole"]
    k_num = model.geometric_factors(p)
    assert np.allclose(k_num, numeric_geometric_factor(model.transfer_resistances(1.0, p)))
    k_exact = geometric_factor(p, pos)
    assert np.abs(k_num / k_exact - 1).max() < 5e-3
    # ... and not the horizontal-distance value
    k_flat = geometric_factor(p, np.column_stack([pos[:, 0], np.zeros(N)]))
    assert np.abs(k_num / k_flat - 1).max() > 0.02


def test_topography_from_a_data_file():
    data = read_unified(Path(__file__).parent / "data" / "ert" / "slagdump.ohm")
    xz = data.profile()
    mesh = halfplane_mesh(xz)
    assert np.allclose(mesh.mesh.p[:, mesh.electrode_nodes].T, xz)
    # every electrode node is on the boundary (the surface), none is on the far boundary
    boundary = np.unique(mesh.mesh.facets[:, mesh.mesh.boundary_facets()])
    assert np.all(np.isin(mesh.electrode_nodes, boundary))
    assert not np.any(np.isin(mesh.electrode_nodes, mesh.mesh.facets[:, mesh.far_facets]))
    assert mesh.n_elements < 20000


def test_forward_errors(flat):
    with pytest.raises(FemeitError, match="electrodes"):
        flat.transfer_resistances(1.0, wenner_alpha(N + 3))
    with pytest.raises(FemeitError, match="current electrode"):
        readings(np.eye(N), pole_dipole(N).__class__.from_abmn([[0, 1, 1, 2]], N))
    with pytest.raises(FemeitError, match="positive"):
        flat.transfer_matrix(-1.0)
    with pytest.raises(FemeitError, match="increasing"):
        halfplane_mesh(LINE[::-1])
    with pytest.raises(FemeitError, match="order"):
        Forward25D(flat.mesh, order=3)


def test_bodies_and_layers_are_meshed_conformingly():
    square = np.array([[4.0, -3.0], [7.0, -3.0], [7.0, -1.0], [4.0, -1.0]])
    mesh = halfplane_mesh(LINE, layers=[-4.0], bodies=[square])
    p = mesh.mesh.p.T
    for corner in square:
        assert np.min(np.linalg.norm(p - corner, axis=1)) < 1e-9
    # no triangle straddles the body's outline or the layer interface
    verts = p[mesh.mesh.t]  # (3, n, 2)
    inside = (verts[..., 0] >= 4 - 1e-9) & (verts[..., 0] <= 7 + 1e-9) & (verts[..., 1] >= -3 - 1e-9)
    inside &= verts[..., 1] <= -1 + 1e-9
    strictly = (verts[..., 0] > 4 + 1e-9) & (verts[..., 0] < 7 - 1e-9) & (verts[..., 1] > -3 + 1e-9)
    strictly &= verts[..., 1] < -1 - 1e-9
    assert not np.any(strictly.any(axis=0) & ~inside.all(axis=0))
    above, below = verts[..., 1] > -4 + 1e-9, verts[..., 1] < -4 - 1e-9
    assert not np.any(above.any(axis=0) & below.any(axis=0))
    with pytest.raises(FemeitError, match="polygon"):
        halfplane_mesh(LINE, bodies=[square[:2]])
    with pytest.raises(FemeitError, match="below every electrode"):
        halfplane_mesh(LINE, layers=[1.0])
    with pytest.raises(FemeitError, match="ends"):
        halfplane_mesh(LINE, ends="curved")
