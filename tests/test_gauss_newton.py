"""Gauss-Newton absolute imaging: Jacobians by finite differences, convergence to chi^2 = 1, bad input."""

import numpy as np
import pytest
import scipy.sparse as sp

from femeit.errors import FemeitError
from femeit.ert import Forward25D, dipole_dipole, halfplane_mesh, pole_dipole
from femeit.ert.model25d import ERTModel
from femeit.inverse.gauss_newton import gauss_newton, invert_model, neighbour_operator

N = 12


@pytest.fixture(scope="module")
def line():
    x = np.arange(N, dtype=float)
    e = np.column_stack([x, 0.1 * np.sin(x)])  # a little topography
    return e, dipole_dipole(N, n_max=4)


@pytest.fixture(scope="module")
def coarse(line):
    e, prot = line
    return ERTModel(Forward25D(halfplane_mesh(e, near_size=0.25, growth=0.4, extent=3), order=1), prot)


def _truth(c):
    s = np.full(len(c), 0.01)
    s[(np.abs(c[:, 0] - 5.5) < 1.5) & (c[:, 1] < -0.8) & (c[:, 1] > -2.5)] = 0.1
    return s


@pytest.fixture(scope="module")
def synthetic(line):
    """Readings of a conductive block from a finer P2 mesh that follows it, with 2 % noise."""
    e, prot = line
    body = np.array([[4.0, -0.8], [7.0, -0.8], [7.0, -2.5], [4.0, -2.5]])
    fine = halfplane_mesh(e, near_size=0.12, growth=0.3, extent=3, bodies=[body])
    data = ERTModel(Forward25D(fine, order=2), prot).simulate(_truth(fine.centroids()))
    rng = np.random.default_rng(3)
    return data * (1 + 0.02 * rng.standard_normal(len(data)))


@pytest.mark.parametrize("order, array", [(1, "dd"), (2, "dd"), (1, "pd")])
def test_ert_jacobian_matches_finite_differences(line, order, array):
    e, prot = line
    if array == "pd":  # a remote current electrode (column L): no source, no field
        prot = pole_dipole(N, n_max=3)
    mesh = halfplane_mesh(e, near_size=0.4, growth=0.6, extent=3)
    model = ERTModel(Forward25D(mesh, order=order), prot)
    rng = np.random.default_rng(1)
    sigma = 0.01 * np.exp(0.3 * rng.standard_normal(mesh.n_elements))
    jac = model.jacobian(sigma, log_conductivity=True)
    h = 1e-5
    far = np.zeros(mesh.n_elements)
    far[model.forward._far_elements] = 1.0  # the mixed boundary term's elements
    for v in (rng.standard_normal(mesh.n_elements), far):
        fd = (model.simulate(sigma * np.exp(h * v)) - model.simulate(sigma * np.exp(-h * v))) / (2 * h)
        assert np.linalg.norm(jac @ v - fd) < 1e-5 * np.linalg.norm(fd)
    # The readings agree with the forward model they wrap.
    assert np.allclose(model.simulate(sigma), model.forward.transfer_resistances(sigma, prot), rtol=1e-12)


def test_log_data_jacobian_matches_finite_differences(coarse):
    """invert_model's ln|R| data Jacobian, checked through gauss_newton's own calls."""
    calls = {}

    def spy(fwd, jac, data, std, m0, reg, **kw):
        calls.update(fwd=fwd, jac=jac, m0=m0)
        raise StopIteration

    import femeit.inverse.gauss_newton as gn

    original = gn.gauss_newton
    gn.gauss_newton = spy
    try:
        with pytest.raises(StopIteration):
            invert_model(coarse, coarse.simulate(0.02), np.full(coarse.protocol.n_rows, 1e-3), 0.01, log_data=True)
    finally:
        gn.gauss_newton = original
    rng = np.random.default_rng(2)
    m = calls["m0"] + 0.2 * rng.standard_normal(len(calls["m0"]))
    v = rng.standard_normal(len(m))
    h = 1e-5
    fd = (calls["fwd"](m + h * v) - calls["fwd"](m - h * v)) / (2 * h)
    assert np.linalg.norm(calls["jac"](m) @ v - fd) < 1e-5 * np.linalg.norm(fd)


@pytest.mark.parametrize("prior", ["smooth", "tv"])
def test_synthetic_ert_reaches_chi2_one(coarse, synthetic, prior):
    res = invert_model(coarse, synthetic, 0.02 * np.abs(synthetic), sigma0=0.01, log_data=True, prior=prior)
    assert res.converged and res.chi2[-1] <= 1.0 and res.iterations <= 10
    assert res.chi2[-1] > 0.3  # the discrepancy stop does not over-fit the noise
    # Every iterate is kept, with its lambda and step.
    assert len(res.images) == res.iterations + 1 == len(res.chi2)
    assert len(res.lambdas) == len(res.step_lengths) == res.iterations
    assert np.all(np.diff(res.chi2) < 0)
    c = coarse.mesh.centroids()
    covered = (np.abs(c[:, 0] - 5.5) < 6) & (c[:, 1] > -3.5)
    cc = np.corrcoef(np.log(_truth(c))[covered], res.log_conductivity[covered])[0, 1]
    assert cc > 0.75
    assert np.allclose(res.conductivity, np.exp(res.log_conductivity))


def test_bounds_are_respected(coarse, synthetic):
    res = invert_model(
        coarse, synthetic, 0.02 * np.abs(synthetic), sigma0=0.01, log_data=True, bounds=(0.008, 0.03), max_iter=3
    )
    assert res.conductivity.min() >= 0.008 * (1 - 1e-12) and res.conductivity.max() <= 0.03 * (1 + 1e-12)
    # The block wants 0.1 S/m: the upper bound is reached.
    assert np.isclose(res.conductivity.max(), 0.03)


def test_matrix_free_products_match_the_dense_jacobian():
    import femeit as fe

    mesh = fe.mesh_from_spec(fe.CircleSpec(n_electrodes=8, h=0.25, h_electrode=0.1))
    model = fe.ForwardModel(mesh, fe.Protocol.adjacent(8))
    calls = {}

    import femeit.inverse.gauss_newton as gn

    def spy(fwd, jac, *a, **kw):
        calls.update(jac=jac)
        raise StopIteration

    original = gn.gauss_newton
    gn.gauss_newton = spy
    try:
        with pytest.raises(StopIteration):
            invert_model(model, model.simulate(1.0), np.ones(model.protocol.n_rows), 1.0, matrix_free=True)
    finally:
        gn.gauss_newton = original
    rng = np.random.default_rng(0)
    m = 0.3 * rng.standard_normal(mesh.n_elements)
    op = calls["jac"](m)
    dense = model.jacobian(np.exp(m), log_conductivity=True)
    v, y = rng.standard_normal(mesh.n_elements), rng.standard_normal(model.protocol.n_rows)
    assert np.allclose(op.matvec(v), dense @ v, rtol=1e-9, atol=1e-12 * np.abs(dense).max())
    assert np.allclose(op.rmatvec(y), dense.T @ y, rtol=1e-9, atol=1e-12 * np.abs(dense).max())


def test_neighbour_operator_on_two_triangles_and_anisotropy():
    # Unit square split along the diagonal, plus a third triangle above it (shares a horizontal edge).
    p = np.array([[0, 0], [1, 0], [1, 1], [0, 1], [0.5, 2.0]])
    t = np.array([[0, 1, 2], [0, 2, 3], [3, 2, 4]])
    r = neighbour_operator(p, t).toarray()
    assert r.shape == (2, 3)  # two interior edges
    assert np.allclose(r.sum(axis=1), 0)
    r_aniso = neighbour_operator(p, t, weights=(1.0, 0.04)).toarray()
    rows = {tuple(np.flatnonzero(row)): np.abs(row).max() for row in r_aniso}
    assert np.isclose(rows[(0, 1)], np.sqrt(0.5 + 0.5 * 0.04))  # diagonal edge: normal (1, -1)/sqrt 2
    assert np.isclose(rows[(1, 2)], 0.2)  # horizontal edge: normal along z
    r2 = neighbour_operator(p, t, order=2)
    assert np.allclose(r2.toarray(), r.T @ r)


def test_gauss_newton_on_a_linear_problem_stops_at_the_discrepancy():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((40, 10))
    m_true = rng.standard_normal(10)
    data = a @ m_true + 0.1 * rng.standard_normal(40)
    reg = sp.identity(10, format="csr")
    res = gauss_newton(lambda m: a @ m, lambda m: a, data, np.full(40, 0.1), np.zeros(10), reg)
    assert res.converged and 0.5 < res.chi2[-1] <= 1.0


def test_bad_input(coarse, synthetic):
    std = 0.02 * np.abs(synthetic)
    with pytest.raises(FemeitError, match="std"):
        invert_model(coarse, synthetic, -std, 0.01)
    with pytest.raises(FemeitError, match="std"):
        invert_model(coarse, synthetic, std[:-1], 0.01)
    with pytest.raises(FemeitError, match=r"std.*noise"):
        invert_model(coarse, synthetic, None, 0.01)
    with pytest.raises(FemeitError, match="prior"):
        invert_model(coarse, synthetic, std, 0.01, prior="l1")
    with pytest.raises(FemeitError, match="bounds"):
        invert_model(coarse, synthetic, std, 0.01, bounds=(0.1, 0.01))
    with pytest.raises(FemeitError, match="sigma0"):
        invert_model(coarse, synthetic, std, -1.0)
    with pytest.raises(FemeitError, match="opposite sign"):
        invert_model(coarse, -synthetic, std, 0.01, log_data=True)
    with pytest.raises(FemeitError, match="regulariser"):
        invert_model(coarse, synthetic, std, 0.01, regulariser=sp.identity(3, format="csr"))
    with pytest.raises(FemeitError, match="data"):
        invert_model(coarse, synthetic[:-1], std[:-1], 0.01)
    with pytest.raises(FemeitError, match="cooling"):
        invert_model(coarse, synthetic, std, 0.01, cooling=2.0)
    with pytest.raises(FemeitError, match="cells"):
        neighbour_operator(np.zeros((3, 2)), np.array([[0, 1, 5]]))
    with pytest.raises(FemeitError, match="protocol"):
        ERTModel(coarse.forward, "dd")
