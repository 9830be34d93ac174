"""SMDR (Sensors 2024) and its deterministic k-means: exact pieces, hand-made images, a small EIT problem."""

import itertools

import numpy as np
import pytest

import femeit as fe
from femeit import metrics
from femeit.errors import FemeitError
from femeit.inverse import (
    SMDR,
    choose_lambda,
    filter_normalize,
    kmeans_1d,
    location_compensation,
    prepare,
    smdr,
    suppress_artifacts,
    tikhonov,
)
from femeit.inverse.registry import solve
from femeit.inverse.smdr import CLUSTER_NAMES


def _brute_force_inertia(v: np.ndarray, k: int) -> float:
    """Least within-cluster sum of squares over all splits of the distinct sorted values."""
    distinct = np.unique(v)
    k = min(k, len(distinct))
    best = np.inf
    for cuts in itertools.combinations(range(1, len(distinct)), k - 1):
        total = 0.0
        for part in np.split(distinct, cuts):
            members = v[(v >= part[0]) & (v <= part[-1])]
            total += np.sum((members - members.mean()) ** 2)
        best = min(best, total)
    return best


def test_exact_kmeans_is_the_global_optimum():
    rng = np.random.default_rng(3)
    for _ in range(40):
        v = np.round(rng.standard_normal(rng.integers(1, 16)) * 3) / 2  # ties included
        k = int(rng.integers(1, 6))
        exact = kmeans_1d(v, k, method="exact")
        assert exact.inertia == pytest.approx(_brute_force_inertia(v, k), abs=1e-9)
        assert kmeans_1d(v, k).inertia >= exact.inertia - 1e-9  # Lloyd: a local optimum at best


def test_clusters_are_sorted_largest_first_and_consistent():
    rng = np.random.default_rng(0)
    v = rng.standard_normal(500) ** 3
    for method in ("lloyd", "exact"):
        c = kmeans_1d(v, 4, method=method)
        assert np.all(np.diff(c.centres) < 0)
        assert c.labels[np.argmax(v)] == 0 and c.labels[np.argmin(v)] == 3
        assert c.sizes.sum() == len(v)
        for j in range(4):
            np.testing.assert_allclose(v[c.labels == j].mean(), c.centres[j])
            assert np.sum(c.labels == j) == c.sizes[j]
        # Nearest-centre assignment: each value is closest to its own centre.
        distance = np.abs(v[:, None] - c.centres[None, :])
        assert np.all(distance[np.arange(len(v)), c.labels] <= distance.min(axis=1) + 1e-12)


def test_cluster_ordering_on_a_hand_made_image():
    # Four levels shuffled: 1.0 -> Object, 0.5 -> Mixture, 0.2 -> Artifact, 0 -> Background.
    levels = np.repeat([0.0, 0.2, 0.5, 1.0], [20, 6, 4, 3])
    image = np.random.default_rng(1).permutation(levels)
    for method in ("lloyd", "exact"):
        c = kmeans_1d(image, 4, method=method)
        expected = np.select([image == 1.0, image == 0.5, image == 0.2], [0, 1, 2], 3)
        np.testing.assert_array_equal(c.labels, expected)
        np.testing.assert_allclose(c.centres, [1.0, 0.5, 0.2, 0.0])
        np.testing.assert_array_equal(c.sizes, [3, 4, 6, 20])
    assert CLUSTER_NAMES == ("object", "mixture", "artifact", "background")


def test_lloyd_is_deterministic_and_matches_exact_on_separated_groups():
    rng = np.random.default_rng(2)
    v = np.concatenate([rng.normal(m, 0.01, s) for m, s in ((0, 300), (0.3, 80), (0.6, 40), (1.0, 20))])
    v = rng.permutation(v)
    a, b = kmeans_1d(v, 4), kmeans_1d(v.copy(), 4)
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.labels, kmeans_1d(v, 4, method="exact").labels)


def test_fewer_distinct_values_than_clusters():
    v = np.array([0.0, 1.0, 0.0, 1.0, 1.0])
    for method in ("lloyd", "exact"):
        c = kmeans_1d(v, 4, method=method)
        assert c.sizes.sum() == 5 and np.count_nonzero(c.sizes) == 2
        assert c.inertia == 0.0
        np.testing.assert_array_equal(c.labels[v == 1.0], 0)
        assert len(set(c.labels[v == 0.0])) == 1 and c.labels[0] != 0


def test_lloyd_restarts_an_empty_cluster():
    # From centres spread over [0, 1], 0 and 0.15 first share a cluster and the
    # second centre has no values; restarting it gives the optimum.
    v = np.repeat([0.0, 0.15, 0.6, 1.0], [40, 8, 5, 3])
    lloyd, exact = kmeans_1d(v, 4), kmeans_1d(v, 4, method="exact")
    assert lloyd.iterations > 1
    np.testing.assert_array_equal(lloyd.labels, exact.labels)
    np.testing.assert_allclose(lloyd.centres, [1.0, 0.6, 0.15, 0.0])


def test_kmeans_rejects_bad_input():
    with pytest.raises(FemeitError, match="NaN"):
        kmeans_1d(np.array([0.0, np.nan]), 2)
    with pytest.raises(FemeitError, match="1D"):
        kmeans_1d(np.zeros((3, 3)), 2)
    with pytest.raises(FemeitError, match="positive integer"):
        kmeans_1d(np.zeros(3), 0)
    with pytest.raises(FemeitError, match="method"):
        kmeans_1d(np.zeros(3), 2, method="random")


def test_filter_normalize_is_eq_19():
    np.testing.assert_allclose(filter_normalize(np.array([-1.0, 0.5, 2.0])), [0.0, 0.25, 1.0])
    np.testing.assert_array_equal(filter_normalize(np.array([-1.0, -0.5])), [0.0, 0.0])
    with pytest.raises(FemeitError):
        filter_normalize(np.array([1.0, np.nan]))


def test_post_process_zeroes_artifact_and_background_on_a_hand_made_image():
    image = np.random.default_rng(4).permutation(np.repeat([0.0, 0.15, 0.6, 1.0], [40, 8, 5, 3]))
    out, clusters = suppress_artifacts(image)
    np.testing.assert_array_equal(out, np.where(image >= 0.6, image, 0.0))
    np.testing.assert_array_equal(clusters.sizes, [3, 5, 8, 40])


@pytest.fixture(scope="module")
def blur():
    """A 24 x 24 pixel image blurred by a Gaussian (width 1 pixel), a disk of 69 pixels, its data."""
    n = 24
    yy, xx = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    pts = np.column_stack([xx.ravel(), yy.ravel()]).astype(float)
    jac = np.exp(-((pts[:, None, :] - pts[None, :, :]) ** 2).sum(axis=-1) / 2.0)
    truth = ((pts - [11, 12]) ** 2).sum(axis=1) <= 20
    return jac, truth.astype(float), jac @ truth


def test_smdr_returns_the_support_when_tikhonovs_clusters_are_exact(blur):
    jac, truth, y = blur
    result = smdr(jac, y, lam=1e-2 * np.linalg.norm(jac, 2) ** 2)
    support = truth > 0
    # The premise: Object and Mixture of the Tikhonov image are exactly the object.
    np.testing.assert_array_equal(result.clusters0.labels <= 1, support)
    assert np.any(result.x0[~support] > 0.05)  # Tikhonov blurs beyond the object
    assert np.any(result.x_n[~support] > 0)  # the difference (eq. 18) leaves a residue ...
    np.testing.assert_array_equal(result.x > 0, support)  # ... that the post-process removes
    assert metrics.correlation_coefficient(truth, result.x) > metrics.correlation_coefficient(truth, result.x0)


def test_intermediate_products_are_consistent(blur):
    jac, _, y = blur
    r = SMDR(jac, 1e-2 * np.linalg.norm(jac, 2) ** 2)(y)
    np.testing.assert_array_equal(r.area_a, r.clusters0.labels != 3)
    np.testing.assert_array_equal(r.area_r, r.clusters0.labels == 2)
    assert np.all(r.x_a[~r.area_a] == 0) and np.all(r.x_r[~r.area_r] == 0)
    np.testing.assert_array_equal(r.x_d, r.x_a - r.x_r)
    np.testing.assert_allclose(r.x_n, np.maximum(r.x_d, 0) / r.x_d.max())
    assert r.peak == pytest.approx(r.x_d.max())
    assert r.x.max() == pytest.approx(1.0) and r.x.min() >= 0
    assert np.all(r.x[r.clusters_post.labels >= 2] == 0)
    np.testing.assert_array_equal(r.x[r.clusters_post.labels <= 1], r.x_n[r.clusters_post.labels <= 1])


def test_restricted_solves_equal_dense_tikhonov():
    rng = np.random.default_rng(5)
    jac, y, lam = rng.standard_normal((30, 80)), rng.standard_normal(30), 0.7
    solver = SMDR(jac, lam)
    np.testing.assert_allclose(solver.tikhonov(y), tikhonov(jac, y, lam), rtol=1e-9, atol=1e-12)
    for fraction in (0.2, 0.8):  # the direct and the complement branch of the Gram update
        area = rng.random(80) < fraction
        sub = jac * area
        dense = np.linalg.solve(sub.T @ sub + lam * np.eye(80), sub.T @ y)
        np.testing.assert_allclose(solver.restricted(area, y), dense, rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(solver.restricted(np.zeros(80, bool), y), 0.0)


@pytest.mark.parametrize("counts", [(10, 10, 15, 45), (30, 30, 10, 10), (5, 5, 60, 10)])
def test_re_reconstructions_whichever_pixel_set_is_largest(counts):
    # S close to the identity, so x0 is close to y and y's four levels are the
    # clusters; counts (Object, Mixture, Artifact, Background) make Background,
    # Object + Mixture or Artifact the largest set (three Gram update routes).
    rng = np.random.default_rng(8)
    n = sum(counts)
    jac = np.eye(n) + 0.002 * rng.standard_normal((n, n))
    y = rng.permutation(np.repeat([1.0, 0.6, 0.3, 0.0], counts)) + 0.002 * rng.standard_normal(n)
    r = SMDR(jac, 0.05)(y)
    np.testing.assert_array_equal(r.clusters0.sizes, counts)
    for area, image in ((r.area_a, r.x_a), (r.area_r, r.x_r)):
        sub = jac * area
        dense = np.linalg.solve(sub.T @ sub + 0.05 * np.eye(n), sub.T @ y)
        np.testing.assert_allclose(image, dense, rtol=1e-9, atol=1e-12)


def test_tiny_lambda_on_a_rank_deficient_sensitivity():
    # Reciprocal rows (as in the adjacent protocol) make S S' singular; a tiny
    # lambda must still give the SVD's Tikhonov solution, not a Cholesky failure.
    rng = np.random.default_rng(7)
    half = rng.standard_normal((20, 60)) * np.logspace(0, -3, 60)
    jac = np.vstack([half, half])
    y = jac @ rng.random(60)
    lam = 1e-14 * np.linalg.norm(jac, 2) ** 2
    solver = SMDR(jac, lam)
    area = rng.random(60) < 0.6
    expected = prepare(jac * area).tikhonov_matrix(lam) @ y
    np.testing.assert_allclose(solver.restricted(area, y), expected, rtol=1e-6, atol=1e-8 * np.abs(expected).max())
    assert np.all(np.isfinite(solver(y).x))


def test_smdr_is_deterministic_and_chooses_lambda_by_lcurve(blur):
    jac, _, y = blur
    a, b = smdr(jac, y), smdr(jac, y.copy())
    assert a.lam == choose_lambda(prepare(jac), y)["lam"]
    np.testing.assert_array_equal(a.x, b.x)
    exact = smdr(jac, y, kmeans="exact")
    assert exact.x.shape == a.x.shape and exact.x.max() == pytest.approx(1.0)


def test_location_compensation_is_optional(blur):
    jac, _, y = blur
    centres = np.random.default_rng(6).uniform(-1, 1, (jac.shape[1], 2))
    w = location_compensation(centres, 1.5, gain=1.0)
    np.testing.assert_allclose(location_compensation(np.array([[0.0, 0.0], [1.5, 0.0], [3.0, 0.0]]), 1.5), [2, 1, 1])
    plain, weighted = smdr(jac, y, lam=1.0), smdr(jac, y, lam=1.0, compensation=w)
    np.testing.assert_allclose(weighted.x, plain.x * w)
    np.testing.assert_array_equal(weighted.x_n, plain.x_n)  # only the final image is weighted
    with pytest.raises(FemeitError, match="gain"):
        location_compensation(centres, 1.0, gain=-1.0)


def test_zero_data_give_an_empty_image(blur):
    jac, _, _ = blur
    r = smdr(jac, np.zeros(jac.shape[0]), lam=1.0)
    assert np.all(r.x == 0) and r.peak == 0.0


def test_bad_input_is_refused(blur):
    jac, _, y = blur
    solver = SMDR(jac, 1.0)
    with pytest.raises(FemeitError, match="576 values"):
        solver(y[:-1])
    with pytest.raises(FemeitError, match="one frame"):
        solver(np.column_stack([y, y]))
    with pytest.raises(FemeitError, match="NaN"):
        solver(np.where(np.arange(len(y)) == 3, np.nan, y))
    with pytest.raises(FemeitError, match="mask"):
        solver.restricted(np.ones(5, bool), y)
    with pytest.raises(FemeitError, match="lambda"):
        SMDR(jac, 0.0)
    with pytest.raises(FemeitError, match="compensation"):
        SMDR(jac, 1.0, compensation=np.ones(3))
    with pytest.raises(FemeitError, match="kmeans"):
        SMDR(jac, 1.0, kmeans="random")
    with pytest.raises(FemeitError, match="NaN"):
        SMDR(np.where(jac > 0.5, np.nan, jac), 1.0)


@pytest.fixture(scope="module")
def disk_problem():
    """A 16-electrode disk, data from a finer mesh with one off-centre object, a 24 x 24 pixel grid."""
    from femeit.forward import ForwardModel
    from femeit.grids import PixelGrid
    from femeit.phantom import Disk, Phantom
    from femeit.protocol import Protocol

    def spec(h):
        return fe.CircleSpec(radius=1.0, n_electrodes=16, electrode_width=0.05, h=h, h_electrode=0.0125)

    mesh, fine = fe.mesh_from_spec(spec(0.1)), fe.mesh_from_spec(spec(0.06))
    protocol = Protocol.adjacent(16)
    model, fine_model = ForwardModel(mesh, protocol), ForwardModel(fine, protocol)
    grid = PixelGrid(mesh, (-1, 1, -1, 1), (24, 24))
    phantom = Phantom(1.0, ((Disk((0.3, 0.2), 0.3), 2.0),))
    jac = model.jacobian(1.0, basis=grid.P)
    y = fine_model.simulate(phantom.on_mesh(fine)) - fine_model.simulate(1.0)
    return jac, y, phantom.on_grid(grid, mesh) - 1.0, grid


def test_smdr_sharpens_a_disk_on_an_eit_problem(disk_problem):
    jac, y, truth, grid = disk_problem
    system = prepare(jac)
    lam = 0.01 * system.s[0] ** 2
    r = SMDR(jac, lam)(y)
    cc_smdr = metrics.correlation_coefficient(truth, r.x)
    cc_tik = metrics.correlation_coefficient(truth, system.tikhonov_matrix(lam) @ y)
    assert cc_smdr > cc_tik + 0.05, (cc_smdr, cc_tik)
    assert metrics.relative_error(truth, r.x) < metrics.relative_error(truth, r.x0)
    # The image's centroid lies near the object's centre.
    centroid = (grid.centres * r.x[:, None]).sum(axis=0) / r.x.sum()
    assert np.linalg.norm(centroid - [0.3, 0.2]) < 0.1


def test_registry_smdr_is_a_scaled_smdr_image(disk_problem):
    jac, y, _, grid = disk_problem
    # The registry works on relative data: rows of J and y divided by the reference.
    z0 = np.linspace(1.0, 3.0, len(y))
    x, info = solve("smdr", jac * z0[:, None], y * z0, z0, grid, lam=0.5)
    r = SMDR(jac, 0.5)(y)
    np.testing.assert_allclose(x, r.peak * r.x, rtol=1e-9, atol=1e-12)
    assert info["lam"] == 0.5 and info["peak"] == pytest.approx(r.peak, rel=1e-9)
    with pytest.raises(FemeitError, match="reference readings"):
        solve("smdr", jac, y, None, grid, lam=0.5)
