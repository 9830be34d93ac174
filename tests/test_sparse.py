"""GPSR-BB, TGPSR-BB, KGPSR-BB (Li et al. 2021), Golub-Kahan bidiagonalisation and TwIST."""

import numpy as np
import pytest

import femeit as fe
from femeit.errors import FemeitError
from femeit.grids import SliceGrid
from femeit.inverse.gpsr import (
    column_normalize,
    gpsr,
    gpsr_bb,
    kgpsr,
    kkt_residual,
    objective,
    tgpsr,
    truncated_svd,
)
from femeit.inverse.krylov import bidiagonalize, golub_kahan
from femeit.inverse.leastsquares import prepare
from femeit.inverse.registry import solve
from femeit.inverse.twist import soft_threshold, twist


def sparse_problem(seed=0, m=80, n=200, nnz=8, noise=1e-3):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((m, n)) / np.sqrt(m)
    x = np.zeros(n)
    support = rng.choice(n, nnz, replace=False)
    x[support] = rng.choice([-1.0, 1.0], nnz) * (1 + rng.random(nnz))
    return A, x, A @ x + noise * rng.standard_normal(m)


def ill_posed(seed=1, m=120, n=300, decay=0.85):
    """A matrix with geometrically decaying singular values (like an ERT sensitivity)."""
    rng = np.random.default_rng(seed)
    u, _ = np.linalg.qr(rng.standard_normal((m, m)))
    v, _ = np.linalg.qr(rng.standard_normal((n, m)))
    s = decay ** np.arange(m)
    S = (u * s) @ v.T
    return S, S @ rng.standard_normal(n) + 1e-3 * rng.standard_normal(m)


# ---------------------------------------------------------------- normalisation (eq. 7)


def test_column_normalize_abs_sums_to_one_and_preserves_products():
    S, _ = ill_posed()
    SN, d = column_normalize(S)
    np.testing.assert_allclose(np.abs(SN).sum(axis=0), 1.0)
    x = np.random.default_rng(0).standard_normal(S.shape[1])
    np.testing.assert_allclose(S @ x, SN @ (d * x), atol=1e-12)


def test_column_normalize_signed_follows_eq7_or_refuses():
    S = np.random.default_rng(0).random((10, 5)) + 0.1
    SN, _ = column_normalize(S, mode="signed")
    np.testing.assert_allclose(SN.sum(axis=0), 1.0)
    S[:, 2] = [1, -1] * 5  # signed sum 0
    with pytest.raises(FemeitError, match="mode='abs'"):
        column_normalize(S, mode="signed")


@pytest.mark.parametrize("bad, kw", [(np.zeros((3, 2)), {}), (np.ones((3, 2)), {"mode": "rows"}), (np.ones(3), {})])
def test_column_normalize_rejects_bad_input(bad, kw):
    with pytest.raises(FemeitError):
        column_normalize(bad, **kw)


# ---------------------------------------------------------------- GPSR-BB


def test_gpsr_bb_recovers_a_sparse_vector():
    A, x, y = sparse_problem()
    result = gpsr_bb(A, y, 0.005, tol=1e-10, max_iter=20000)
    assert np.linalg.norm(result.x - x) / np.linalg.norm(x) < 0.03
    big = np.abs(result.x) > 0.1
    assert set(np.flatnonzero(big)) == set(np.flatnonzero(x))


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_gpsr_bb_objective_never_increases(seed):
    A, _, y = sparse_problem(seed)
    result = gpsr_bb(A, y, 0.02, tol=1e-12, max_iter=3000)
    assert result.iterations > 10
    assert np.all(np.diff(result.objective) <= 1e-13 * result.objective[0])
    assert result.objective[-1] == pytest.approx(objective(A, y, result.x, 0.02), rel=1e-10)


@pytest.mark.parametrize("seed", [0, 1])
def test_gpsr_bb_kkt_conditions_hold_at_the_returned_point(seed):
    A, _, y = sparse_problem(seed)
    lam = 0.05 * np.abs(A.T @ y).max()
    result = gpsr_bb(A, y, lam, tol=0.0, max_iter=5000)
    assert kkt_residual(A, y, result.x, lam) < 1e-6
    # The loose default stop is not a KKT point: the test above can fail.
    early = gpsr_bb(A, y, lam, stop="objective", tol=0.5, min_iter=1)
    assert kkt_residual(A, y, early.x, lam) > 1e-3


def test_gpsr_bb_zero_above_lambda_max_and_agrees_with_twist():
    A, _, y = sparse_problem(2)
    lam_max = np.abs(A.T @ y).max()
    assert not np.any(gpsr_bb(A, y, 1.01 * lam_max).x)
    lam = 0.02 * lam_max
    a = gpsr_bb(A, y, lam, tol=0.0, max_iter=5000)
    b = twist(A, y, lam, tol=0.0, max_iter=20000)
    assert objective(A, y, a.x, lam) == pytest.approx(objective(A, y, b.x, lam), rel=1e-7)


def test_gpsr_default_lambda_is_the_papers():
    A, _, y = sparse_problem()
    assert gpsr(A, y).lam == pytest.approx(0.01 * np.abs(A.T @ y).max())


@pytest.mark.parametrize(
    "args, kw",
    [
        ((np.ones((3, 2)), np.ones(3), 0.0), {}),
        ((np.ones((3, 2)), np.ones(4), 0.1), {}),
        ((np.full((3, 2), np.nan), np.ones(3), 0.1), {}),
        ((np.ones((3, 2)), np.ones(3), 0.1), {"x0": np.ones(3)}),
        ((np.ones((3, 2)), np.ones(3), 0.1), {"max_iter": 0}),
    ],
)
def test_gpsr_bb_rejects_bad_input(args, kw):
    with pytest.raises(FemeitError):
        gpsr_bb(*args, **kw)


def test_gpsr_rejects_data_orthogonal_to_the_range():
    A = np.array([[1.0, 0.0], [0.0, 0.0]])
    with pytest.raises(FemeitError, match="S'y is zero"):
        gpsr(A, np.array([0.0, 1.0]))


# ---------------------------------------------------------------- TGPSR-BB


def test_tgpsr_objective_is_the_truncated_problem():
    S, y = ill_posed()
    u, s, vt = truncated_svd(S, 20)
    result = tgpsr(S, y, 20, tol=1e-10, max_iter=5000)
    Sw = (u * s) @ vt
    assert result.objective[-1] == pytest.approx(objective(Sw, y, result.x, result.lam), rel=1e-9)
    assert np.all(np.diff(result.objective) <= 1e-13 * result.objective[0])


def test_tgpsr_at_full_rank_equals_gpsr():
    A, _, y = sparse_problem(m=40, n=60)
    full = gpsr(A, y, tol=1e-12, max_iter=20000)
    trunc = tgpsr(A, y, 40, tol=1e-12, max_iter=20000)
    np.testing.assert_allclose(trunc.x, full.x, atol=1e-6)


def test_tgpsr_rejects_a_mismatched_svd():
    S, y = ill_posed()
    with pytest.raises(FemeitError, match="rank"):
        tgpsr(S, y, 50, svd=truncated_svd(S, 10))


# ---------------------------------------------------------------- Golub-Kahan and KGPSR-BB


def test_golub_kahan_bases_are_orthonormal_and_satisfy_eq18():
    S, y = ill_posed(m=208, n=812, decay=0.9)
    bd = golub_kahan(S, y, 55)
    assert bd.k == 55 and not bd.breakdown
    assert np.abs(bd.V.T @ bd.V - np.eye(55)).max() < 1e-10
    assert np.abs(bd.U.T @ bd.U - np.eye(56)).max() < 1e-10
    assert np.abs(S @ bd.V - bd.U @ bd.B).max() < 1e-10 * np.linalg.norm(S, 2)
    np.testing.assert_allclose(bd.U[:, 0], y / np.linalg.norm(y))
    assert np.allclose(np.triu(bd.B, 1), 0) and np.allclose(np.tril(bd.B, -2), 0)


def test_golub_kahan_spans_the_krylov_space_of_eq17():
    S, y = ill_posed(m=60, n=90, decay=0.7)
    V = golub_kahan(S, y, 4).V
    w = S.T @ y
    for _ in range(4):
        residual = w - V @ (V.T @ w)
        assert np.linalg.norm(residual) < 1e-8 * np.linalg.norm(w)
        w = S.T @ (S @ w)


def test_golub_kahan_stops_on_an_invariant_subspace():
    rng = np.random.default_rng(0)
    S = rng.standard_normal((30, 3)) @ rng.standard_normal((3, 40))  # rank 3
    U, B, V = bidiagonalize(S, rng.standard_normal(30), 10)
    assert V.shape[1] <= 4
    np.testing.assert_allclose(S @ V, U @ B, atol=1e-10)


@pytest.mark.parametrize("k, y", [(0, None), (31, None), (5, np.zeros(30))])
def test_golub_kahan_rejects_bad_input(k, y):
    S = np.random.default_rng(0).standard_normal((30, 40))
    with pytest.raises(FemeitError):
        golub_kahan(S, np.ones(30) if y is None else y, k)


def test_kgpsr_solves_the_coefficient_problem_and_stays_in_the_krylov_space():
    S, y = ill_posed(m=208, n=812, decay=0.9)
    result = kgpsr(S, y, 30, lam=0.05 * np.abs(S.T @ y).max(), penalty="coefficients", tol=0.0, max_iter=5000)
    bd = golub_kahan(S, y, 30)
    rhs = np.zeros(31)
    rhs[0] = np.linalg.norm(y)
    g = result.extra["g"]
    # Claim 1: the L1 norm acts on g; g is optimal for min 1/2||B g - ||y|| e1||^2 + lam ||g||_1.
    assert result.extra["tau"] == pytest.approx(result.lam / 2)  # eq. 22 has no 1/2
    assert kkt_residual(bd.B, rhs, g, result.extra["tau"]) < 1e-6
    # Claim 2: x = V_k g lies in range(V_k), and eq. 21 holds for the residual.
    V = result.extra["V"]
    np.testing.assert_allclose(V @ (V.T @ result.x), result.x, atol=1e-12)
    assert np.linalg.norm(S @ result.x - y) == pytest.approx(np.linalg.norm(bd.B @ g - rhs), rel=1e-8)
    assert np.all(np.diff(result.objective) <= 1e-13 * result.objective[0])


def test_kgpsr_default_lambda_and_the_zero_threshold():
    S, y = ill_posed()
    assert kgpsr(S, y).lam == pytest.approx(np.abs(S.T @ y).max())
    # B' ||y|| e1 = ||S'y||_2 e1, so g = 0 exactly from tau = lam / 2 = ||S'y||_2 on.
    lam2 = 2 * np.linalg.norm(S.T @ y)
    assert not np.any(kgpsr(S, y, 20, lam=1.001 * lam2, penalty="coefficients").x)
    assert np.any(kgpsr(S, y, 20, lam=0.9 * lam2, penalty="coefficients").x)


def test_kgpsr_in_svd_coordinates_gives_the_same_image():
    S, y = ill_posed(m=208, n=812, decay=0.93)
    svd = np.linalg.svd(S, full_matrices=False)
    lam = 0.2 * np.abs(S.T @ y).max()
    for penalty in ("coefficients", "pixel"):
        direct = kgpsr(S, y, 40, lam=lam, penalty=penalty, tol=0.0, max_iter=3000)
        fast = kgpsr(S, y, 40, lam=lam, penalty=penalty, svd=svd, tol=0.0, max_iter=3000)
        np.testing.assert_allclose(fast.x, direct.x, atol=1e-8 * np.abs(direct.x).max())
        np.testing.assert_allclose(np.abs(fast.extra["g"]), np.abs(direct.extra["g"]), atol=1e-8)
    with pytest.raises(FemeitError):
        kgpsr(S, y, 40, svd=(svd[0][:10], svd[1], svd[2]))


def test_kgpsr_discrepancy_principle_meets_the_noise_level():
    S, y0 = ill_posed(m=208, n=812, decay=0.93)
    noise = 0.05 * np.linalg.norm(y0)
    y = y0 + noise / np.sqrt(208) * np.random.default_rng(5).standard_normal(208)
    result = kgpsr(S, y, 40, noise_norm=noise, penalty="coefficients", tol=1e-8)
    residual = np.linalg.norm(S @ result.x - y)
    assert residual <= noise * (1 + 1e-6)
    # A 10 % larger lam already misses the target: lam is the largest that fits.
    larger = kgpsr(S, y, 40, lam=1.1 * result.lam, penalty="coefficients", tol=1e-8)
    assert np.linalg.norm(S @ larger.x - y) > residual
    with pytest.raises(FemeitError, match="noise_norm"):
        kgpsr(S, y, 40, noise_norm=-1.0)


def test_the_old_rejection_of_the_pixel_reading_needed_tau_equal_to_lam():
    # min_x 1/2||B V'x - b||^2 + tau ||x||_1 is empty from tau = ||S'y||_inf on: that is
    # tau = lam, not eq. 22's tau = lam / 2, at which it is not empty (kgpsr docstring).
    S, y = ill_posed()
    bd = golub_kahan(S, y, 20)
    A = bd.B @ bd.V.T
    rhs = np.zeros(21)
    rhs[0] = np.linalg.norm(y)
    lam = np.abs(S.T @ y).max()
    assert not np.any(gpsr_bb(A, rhs, lam * (1 + 1e-9)).x)
    assert np.count_nonzero(gpsr_bb(A, rhs, lam / 2).x) > 0


def _pixel_problem(k=30):
    S, y = ill_posed(m=208, n=812, decay=0.93)
    bd = golub_kahan(S, y, k)
    rhs = np.zeros(k + 1)
    rhs[0] = np.linalg.norm(y)
    return S, y, bd, rhs


def test_kgpsr_pixel_reading_is_optimal_for_eq22_as_printed():
    S, y, bd, rhs = _pixel_problem()
    lam = 0.2 * np.abs(S.T @ y).max()
    result = kgpsr(S, y, 30, lam=lam, tol=1e-8, max_iter=20000)
    assert result.converged and result.extra["penalty"] == "pixel"
    g, w, tau, V = result.extra["g"], result.extra["dual"], result.extra["tau"], result.extra["V"]
    assert tau == pytest.approx(lam / 2)
    # Optimality of min 1/2||B g - b||^2 + tau ||V g||_1: B'(B g - b) + tau V'w = 0, w in the
    # subdifferential of ||.||_1 at x = V g (|w| <= 1, w = sign(x) on the support).
    assert np.linalg.norm(bd.B.T @ (bd.B @ g - rhs) + tau * V.T @ w) < 1e-6 * np.linalg.norm(bd.B.T @ rhs)
    assert np.abs(w).max() <= 1 + 1e-6
    z = result.extra["z"]
    support = np.abs(z) > 1e-8 * np.abs(z).max()
    np.testing.assert_allclose(w[support], np.sign(z[support]), atol=1e-6)
    np.testing.assert_allclose(result.x, V @ g)
    np.testing.assert_allclose(result.x, z, atol=1e-6 * np.abs(z).max())

    # The pixel solution has a lower eq.-22 objective than the coefficient reading's.
    def F(g):
        return 0.5 * np.sum((bd.B @ g - rhs) ** 2) + tau * np.abs(V @ g).sum()

    other = kgpsr(S, y, 30, lam=lam, penalty="coefficients", tol=1e-8)
    assert F(g) < F(other.extra["g"]) - 1e-3 * F(g)


def test_kgpsr_pixel_reading_is_zero_exactly_above_the_lp_threshold():
    from scipy.optimize import linprog

    S, y, bd, _ = _pixel_problem(k=20)
    V, Sty = bd.V, S.T @ y
    n = V.shape[0]
    # tau* = ||S'y||^2 / min_h ||S'y - V_2..k h||_1 (the LP dual of 0 being optimal).
    V2 = V[:, 1:]
    eye = np.eye(n)
    lp = linprog(
        np.r_[np.zeros(19), np.ones(n)],
        A_ub=np.block([[-V2, -eye], [V2, -eye]]),
        b_ub=np.r_[-Sty, Sty],
        bounds=[(None, None)] * 19 + [(0, None)] * n,
        method="highs",
    )
    tau_star = (Sty @ Sty) / lp.fun
    assert tau_star <= np.abs(Sty).max() * (1 + 1e-9)
    below = kgpsr(S, y, 20, lam=2 * 0.97 * tau_star, tol=1e-8, max_iter=50000)
    above = kgpsr(S, y, 20, lam=2 * 1.03 * tau_star, tol=1e-8, max_iter=50000)
    assert np.linalg.norm(above.x) < 1e-4 * np.linalg.norm(below.x)
    assert np.count_nonzero(np.abs(below.x) > 1e-3 * np.abs(below.x).max()) > 10


def test_kgpsr_rejects_an_unknown_penalty():
    S, y = ill_posed()
    with pytest.raises(FemeitError, match="penalty"):
        kgpsr(S, y, 10, penalty="g")


# ---------------------------------------------------------------- stopping tests


def test_gpsr_bb_default_stop_is_a_kkt_point_and_the_early_stop_is_not():
    S, y = ill_posed(m=208, n=812, decay=0.97)
    lam = 0.01 * np.abs(S.T @ y).max()
    converged = gpsr_bb(S, y, lam)
    assert converged.extra["stop"] == "kkt" and converged.converged
    assert kkt_residual(S, y, converged.x, lam) <= 1e-2
    early = gpsr_bb(S, y, lam, stop="objective", tol=1e-2)
    assert early.iterations < converged.iterations
    assert kkt_residual(S, y, early.x, lam) > 1e-1
    lcp = gpsr_bb(S, y, lam, stop="lcp")
    assert lcp.extra["tol"] == 1e-2 and lcp.iterations >= 5
    with pytest.raises(FemeitError, match="stop"):
        gpsr_bb(S, y, lam, stop="gap")
    with pytest.raises(FemeitError, match="tol"):
        gpsr_bb(S, y, lam, tol=-1.0)


def test_twist_default_stop_is_the_fixed_point_residual():
    A, _, y = sparse_problem(3)
    lam = 0.02 * np.abs(A.T @ y).max()
    result = twist(A, y, lam)
    L = result.extra["lipschitz"]
    x = result.x
    step = soft_threshold(x - A.T @ (A @ x - y) / L, lam / L)
    assert result.converged and np.linalg.norm(x - step) <= 1e-5 * np.linalg.norm(x)
    early = twist(A, y, lam, stop="objective")
    assert early.iterations < result.iterations
    with pytest.raises(FemeitError, match="stop"):
        twist(A, y, lam, stop="kkt")


# ---------------------------------------------------------------- TwIST, iterated Tikhonov, registry


def test_twist_recovers_a_sparse_vector_monotonically():
    A, x, y = sparse_problem(4)
    result = twist(A, y, 0.005, tol=1e-10, max_iter=20000)
    assert np.linalg.norm(result.x - x) / np.linalg.norm(x) < 0.03
    assert np.all(np.diff(result.objective) <= 1e-13 * result.objective[0])


def test_soft_threshold():
    np.testing.assert_allclose(soft_threshold(np.array([-3.0, -0.5, 0.0, 0.5, 2.0]), 1.0), [-2, 0, 0, 0, 1])


def test_iterated_tikhonov_matches_the_iteration():
    S, y = ill_posed(m=30, n=50)
    system = prepare(S)
    np.testing.assert_allclose(system.iterated_tikhonov_matrix(0.01, 1), system.tikhonov_matrix(0.01))
    x = np.zeros(50)
    inverse = np.linalg.inv(S.T @ S + 0.01 * np.eye(50))
    for _ in range(5):
        x = x + inverse @ (S.T @ (y - S @ x))
    np.testing.assert_allclose(system.iterated_tikhonov_matrix(0.01, 5) @ y, x, rtol=1e-6, atol=1e-9)
    with pytest.raises(FemeitError):
        system.iterated_tikhonov_matrix(0.01, 0)


@pytest.mark.parametrize("name", ["gpsr", "tgpsr", "kgpsr", "twist"])
def test_registry_returns_conductivity_changes(name):
    S, y = ill_posed(m=60, n=90, decay=0.9)
    x, info = solve(name, S, y, None, None, rank=20 if name in ("tgpsr", "kgpsr") else None)
    assert x.shape == (90,) and np.all(np.isfinite(x)) and info["lam"] > 0
    # The image is a reconstruction of y: the residual falls below the data norm.
    assert np.linalg.norm(S @ x - y) < np.linalg.norm(y)


# ---------------------------------------------------------------- SliceGrid.min_fraction


def test_slice_grid_min_fraction_keeps_pixels_at_least_half_inside():
    spec = fe.CylinderSpec(radius=0.1, height=0.1, rings=(fe.ElectrodeRing(z=0.05, n_electrodes=8),), h=0.03)
    mesh = fe.mesh_from_spec(spec)
    kw = dict(z=0.05, thickness=0.02, shape=(16, 16), bounds=(-0.1, 0.1, -0.1, 0.1))
    loose, half = SliceGrid(mesh, **kw), SliceGrid(mesh, **kw, min_fraction=0.5)
    voxel = (0.2 / 16) ** 2 * 0.02
    assert half.n_params < loose.n_params
    assert half.measures.min() > 0.5 * voxel and loose.measures.min() < 0.5 * voxel
    with pytest.raises(FemeitError, match="min_fraction"):
        SliceGrid(mesh, **kw, min_fraction=1.0)


@pytest.mark.parametrize("name", ["tgpsr", "kgpsr"])
def test_registry_caps_the_default_dimension_on_small_systems(name):
    # 20 readings: the paper's w = 50 / k = 55 cannot apply; the default is capped, not an error.
    rng = np.random.default_rng(3)
    jac = rng.standard_normal((20, 50))
    x, info = solve(name, jac, jac @ rng.random(50), np.ones(20), None)
    assert info["rank" if name == "tgpsr" else "k"] == 20 and np.all(np.isfinite(x))
    with pytest.raises(FemeitError):
        solve(name, jac, np.r_[jac @ rng.random(50)][:-1], np.ones(19), None)
