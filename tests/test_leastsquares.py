"""One-step solvers against dense reference computations, and parameter choice."""

import numpy as np
import pytest

import femeit as fe
from femeit.inverse import backprojection, choose_lambda, choose_rank, lcurve_corner, occam, prepare, tikhonov, tsvd


@pytest.fixture(scope="module")
def problem():
    rng = np.random.default_rng(0)
    u, _ = np.linalg.qr(rng.standard_normal((60, 60)))
    v, _ = np.linalg.qr(rng.standard_normal((90, 60)))
    s = np.logspace(0, -6, 60)  # ill-conditioned, like a sensitivity matrix
    jac = (u * s) @ v.T
    x_true = np.exp(-0.5 * ((np.arange(90) - 40) / 5.0) ** 2)
    y = jac @ x_true
    return jac, x_true, y


def test_tikhonov_equals_normal_equations(problem):
    jac, _, y = problem
    lam = 1e-4
    dense = np.linalg.solve(jac.T @ jac + lam * np.eye(90), jac.T @ y)
    np.testing.assert_allclose(tikhonov(jac, y, lam), dense, rtol=1e-8, atol=1e-10)
    frames = np.column_stack([y, 2 * y])
    np.testing.assert_allclose(tikhonov(jac, frames, lam)[:, 1], 2 * dense, rtol=1e-8, atol=1e-10)


def test_occam_equals_normal_equations(problem):
    jac, _, y = problem
    d = np.diff(np.eye(90), 2, axis=0)  # second differences
    lam = 1e-5
    system = prepare(jac, d)
    eps = 1e-8 * np.trace(d.T @ d) / 90
    dense = np.linalg.solve(jac.T @ jac + lam * (d.T @ d + eps * np.eye(90)), jac.T @ y)
    np.testing.assert_allclose(system.tikhonov_matrix(lam) @ y, dense, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(occam(jac, y, lam, d), dense, rtol=1e-6, atol=1e-8)


def test_tsvd_equals_numpy_svd(problem):
    jac, _, y = problem
    u, s, vt = np.linalg.svd(jac, full_matrices=False)
    r = 20
    expected = vt[:r].T @ ((u[:, :r].T @ y) / s[:r])
    np.testing.assert_allclose(tsvd(jac, y, r), expected, rtol=1e-10)


def test_solution_paths_match_the_matrices(problem):
    jac, _, y = problem
    d = np.diff(np.eye(90), 2, axis=0)
    lambdas = np.array([1e-7, 1e-4, 0.1])
    for system in (prepare(jac), prepare(jac, d)):
        path = system.tikhonov_path(y, lambdas)
        for k, lam in enumerate(lambdas):
            np.testing.assert_allclose(path[k], system.tikhonov_matrix(lam) @ y, rtol=1e-9, atol=1e-12)
    plain = prepare(jac)
    ranks = plain.tsvd_path(y)
    assert ranks.shape == (len(plain.s), 90)
    for r in (1, 20, len(plain.s)):
        np.testing.assert_allclose(ranks[r - 1], plain.tsvd_matrix(r) @ y, rtol=1e-9, atol=1e-12)
    with pytest.raises(fe.FemeitError, match="non-negative"):
        plain.tikhonov_path(y, [-1.0])
    with pytest.raises(fe.FemeitError, match="one frame"):
        plain.tikhonov_path(np.column_stack([y, y]), [1e-4])


def test_lcurve_corner_on_a_known_curve():
    # Two straight log-log branches meeting at index 30: the corner is found there.
    t = np.arange(61)
    x = np.where(t < 30, 0.0 + 0.01 * t, 0.3 + (t - 30) * 0.2)
    y = np.where(t < 30, 5.0 - 0.2 * t, -1.0 - 0.01 * (t - 30))
    assert lcurve_corner(np.exp(x), np.exp(y)) == 30


def test_parameter_choice_recovers_a_good_solution(problem):
    jac, x_true, y = problem
    noisy = y + 1e-5 * np.linalg.norm(y) * np.random.default_rng(1).standard_normal(len(y))
    system = prepare(jac)
    err = {}
    for method in ("lcurve", "gcv"):
        choice = choose_lambda(system, noisy, method)
        assert choice["lambdas"].shape == (100,)
        x = system.tikhonov_matrix(choice["lam"]) @ noisy
        err[method] = np.linalg.norm(x - x_true) / np.linalg.norm(x_true)
    # The best lambda on the grid, found by brute force, is not much better.
    best = min(np.linalg.norm(system.tikhonov_matrix(lam) @ noisy - x_true) for lam in choice["lambdas"])
    best /= np.linalg.norm(x_true)
    assert err["lcurve"] < 3 * best + 0.05 and err["gcv"] < 3 * best + 0.05, (err, best)
    rank = choose_rank(system, noisy)["rank"]
    errors = [np.linalg.norm(system.tsvd_matrix(r) @ noisy - x_true) for r in range(1, 61)]
    assert errors[rank - 1] < 3 * min(errors) + 0.05 * np.linalg.norm(x_true), (rank, int(np.argmin(errors)) + 1)


def test_backprojection_averages_relative_changes():
    jac = np.array([[1.0, 0.0], [1.0, 3.0]])
    z0 = np.array([2.0, 4.0])
    dz = np.array([-0.2, -0.4])  # -10 % on both rows
    np.testing.assert_allclose(backprojection(jac, dz, z0), [0.1, 0.1])
    mask = np.array([[True, False], [False, True]])
    np.testing.assert_allclose(backprojection(jac, dz, z0, mask=mask), [0.1, 0.1])


def test_bad_solver_input():
    jac = np.ones((4, 3))
    with pytest.raises(fe.FemeitError, match="4 rows"):
        tikhonov(jac, np.ones(5), 1.0)
    with pytest.raises(fe.FemeitError, match="NaN"):
        tikhonov(jac, np.array([1.0, np.nan, 0.0, 0.0]), 1.0)
    with pytest.raises(fe.FemeitError, match="non-negative"):
        prepare(jac).tikhonov_matrix(-1.0)
    with pytest.raises(fe.FemeitError, match="rank must lie"):
        tsvd(jac, np.ones(4), 9)


def test_normalised_system_recovers_relative_change_with_calibration_errors():
    # A model whose absolute scale is wrong by 20 % (e.g. an unknown geometry factor):
    # relative data and the normalised system still give the relative conductivity change.
    from femeit.inverse import normalize_system

    rng = np.random.default_rng(4)
    jac = -np.abs(rng.standard_normal((30, 5)))
    sigma0, z0_model = 2.0, np.abs(rng.standard_normal(30)) + 1.0
    x_rel = np.array([0.0, 0.1, 0.0, -0.05, 0.0])
    z0_measured = 1.2 * z0_model
    z = z0_measured + 1.2 * jac @ (x_rel * sigma0)
    s_rel = normalize_system(jac, z0_model, sigma0)
    np.testing.assert_allclose(
        np.linalg.lstsq(s_rel, (z - z0_measured) / z0_measured, rcond=None)[0], x_rel, atol=1e-12
    )
    with pytest.raises(fe.FemeitError, match="non-zero"):
        normalize_system(jac, np.zeros(30), sigma0)
