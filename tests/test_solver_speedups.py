"""Faster solver loops give the results of the straightforward ones (issue 17, speed without new results)."""

import numpy as np

from femeit.inverse.gpsr import pixel_l1_admm, soft
from femeit.inverse.kmeans import kmeans_1d


def _reference_admm(B, b, V, tau, tol=1e-5, max_iter=10_000):
    """KGPSR-BB's pixel-L1 ADMM written out with four products with V per iteration (the former loop)."""
    evals, Q = np.linalg.eigh(B.T @ B)
    evals = np.maximum(evals, 0.0)
    Btb = B.T @ b
    rho = float(evals.mean())
    x_scale = float(np.linalg.norm(Btb)) / float(evals.max())
    z, u, g = np.zeros(V.shape[0]), np.zeros(V.shape[0]), np.zeros(B.shape[1])
    history = [0.5 * float(b @ b)]
    it = 0
    while it < max_iter:
        it += 1
        g = Q @ ((Q.T @ (Btb + rho * (V.T @ (z - u)))) / (evals + rho))
        x = V @ g
        z_old = z
        z = soft(x + u, tau / rho)
        u += x - z
        history.append(0.5 * float(np.sum((B @ g - b) ** 2)) + tau * float(np.abs(x).sum()))
        r_pri = float(np.linalg.norm(x - z))
        r_dual = rho * float(np.linalg.norm(V.T @ (z - z_old)))
        scale_pri = max(float(np.linalg.norm(x)), float(np.linalg.norm(z)), 1e-3 * x_scale)
        scale_dual = max(rho * float(np.linalg.norm(V.T @ u)), 1e-3 * float(np.linalg.norm(Btb)))
        if r_pri <= tol * scale_pri and r_dual <= tol * scale_dual:
            break
        if r_pri > 10 * r_dual:
            rho, u = rho * 2.0, u / 2.0
        elif r_dual > 10 * r_pri:
            rho, u = rho / 2.0, u * 2.0
    return z, g, it, np.array(history)


def test_pixel_admm_matches_the_straightforward_loop():
    rng = np.random.default_rng(17)
    k, n = 30, 400
    B = np.triu(np.tril(rng.standard_normal((k + 1, k)), 0), -1) * np.geomspace(1, 1e-3, k)
    V = np.linalg.qr(rng.standard_normal((n, k)))[0]
    x_true = np.zeros(n)
    x_true[rng.choice(n, 12, replace=False)] = rng.standard_normal(12)
    b = B @ (V.T @ x_true) + 1e-3 * rng.standard_normal(k + 1)
    tau = 0.02 * float(np.abs(V @ (B.T @ b)).max())
    z_ref, g_ref, it_ref, history_ref = _reference_admm(B, b, V, tau)
    result = pixel_l1_admm(B, b, V, tau, tol=1e-5)
    assert result.iterations == it_ref > 5
    scale = np.abs(z_ref).max()
    assert scale > 0 and np.count_nonzero(z_ref) < n
    np.testing.assert_allclose(result.x, z_ref, rtol=0, atol=1e-9 * scale)
    np.testing.assert_allclose(result.extra["g"], g_ref, rtol=0, atol=1e-9 * np.abs(g_ref).max())
    # The objective history (its data term now evaluated after the loop) is the same.
    np.testing.assert_allclose(result.objective, history_ref, rtol=1e-9)


def test_best_kmeans_is_the_lower_cost_of_the_two_lloyd_starts():
    rng = np.random.default_rng(3)
    values = np.r_[rng.normal(0, 0.05, 300), rng.normal(1, 0.1, 20), [4.0, 4.2]]
    runs = [kmeans_1d(values, 4, init=start) for start in ("range", "quantile")]
    best = kmeans_1d(values, 4, method="best")
    assert best.inertia == min(r.inertia for r in runs)
    np.testing.assert_array_equal(best.labels, min(runs, key=lambda r: r.inertia).labels)


def _reference_lloyd(v, k):
    """Lloyd's 1D k-means from the "range" start with numpy array steps (the former loop)."""
    sorted_v = np.sort(v)
    n, s1 = len(sorted_v), np.r_[0.0, np.cumsum(sorted_v)]
    centres = sorted_v[0] + (np.arange(k) + 0.5) / k * (sorted_v[-1] - sorted_v[0])
    n_distinct = 1 + int(np.count_nonzero(np.diff(sorted_v)))
    edges, cuts = np.r_[0, np.zeros(k - 1, dtype=np.intp), n], None
    for _ in range(300):
        new_cuts = np.searchsorted(sorted_v, 0.5 * (centres[:-1] + centres[1:]), side="right")
        if cuts is not None and np.array_equal(new_cuts, cuts):
            break
        cuts = edges[1:-1] = new_cuts
        sizes = np.diff(edges)
        centres = np.where(sizes > 0, np.diff(s1[edges]) / np.maximum(sizes, 1), centres)
        if not sizes.all() and np.count_nonzero(sizes) < n_distinct:
            distance = np.abs(sorted_v - np.repeat(centres, sizes))
            centres[np.flatnonzero(sizes == 0)[0]] = sorted_v[np.argmax(distance)]
        centres.sort()
    return np.sort(centres)[::-1]


def test_lloyd_on_python_floats_gives_the_numpy_loop_centres():
    rng = np.random.default_rng(5)
    for trial in range(200):
        v = rng.standard_normal(int(rng.integers(2, 300))) * 10.0 ** rng.integers(-3, 4)
        if trial % 3 == 0:
            v = np.round(v, 1)  # ties and empty clusters
        k = int(rng.integers(2, 6))
        np.testing.assert_array_equal(kmeans_1d(v, k).centres, _reference_lloyd(v, k))
