"""Deterministic k-means of scalar values (pixel values of an image).

SMDR (Sensors 24, 333, 2024, doi:10.3390/s24020333, eqs. 11-13) clusters the pixel
values of an image into k = 4 groups with "typical k-means": assign every value
to the nearest centre, move each centre to the mean of its values, repeat until
the assignment no longer changes.  The paper leaves the initialisation open
(random starts make the result depend on the seed); we offer

* :func:`kmeans_1d` with ``method="lloyd"`` (the default): Lloyd's iteration
  from a deterministic start, the centres evenly spaced over the value range;
  a cluster left empty restarts at the value farthest from its centre (while
  there are more distinct values than filled clusters).
  In 1D the clusters of Lloyd's iteration are intervals of the sorted values,
  so one sort, prefix sums and ``searchsorted`` give every iteration in
  O(k log n): microseconds for an image of a few thousand pixels.
* ``method="exact"``: the global minimum of the within-cluster sum of squares
  (eq. 11) by dynamic programming over the sorted values (optimal 1D clusters
  are contiguous), O(k n^2) time in chunks of O(n * 512) memory; a few tenths of a second
  for 3000 values.

Both are deterministic.  Clusters are returned sorted by centre, largest first
(SMDR's order: Object, Artifact-Object Mixture, Artifact, Background).
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass

import numpy as np

from femeit.errors import FemeitError


@dataclass(frozen=True, eq=False)
class Clusters:
    """Result of :func:`kmeans_1d`.

    Attributes
    ----------
    labels : ndarray of int, shape (n,)
        Cluster of each value, 0 for the largest centre .. k - 1 for the smallest.
    centres : ndarray, shape (k,)
        Cluster means, decreasing.  An empty cluster (possible when there are
        fewer distinct values than k) keeps the centre it was given and has no labels.
    sizes : ndarray of int, shape (k,)
        Number of values per cluster.
    inertia : float
        Within-cluster sum of squared distances to the centres (eq. 11).
    iterations : int
        Lloyd iterations run (0 for the exact method).
    """

    labels: np.ndarray
    centres: np.ndarray
    sizes: np.ndarray
    inertia: float
    iterations: int


def _check_values(values: np.ndarray, k: int) -> np.ndarray:
    v = np.asarray(values, dtype=float)
    if v.ndim != 1 or v.size == 0:
        raise FemeitError(f"k-means needs a non-empty 1D array of values, got shape {v.shape}")
    if not np.all(np.isfinite(v)):
        raise FemeitError("k-means values contain NaN or infinite values")
    if not (isinstance(k, int | np.integer) and k >= 1):
        raise FemeitError(f"the number of clusters k must be a positive integer, got {k!r}")
    return v


def _finish(v: np.ndarray, sorted_v: np.ndarray, cuts: np.ndarray, centres: np.ndarray, iterations: int) -> Clusters:
    """Clusters from cut positions in the sorted values, relabelled by decreasing centre.

    ``cuts[j]`` is the rank in ``sorted_v`` where segment j + 1 starts; segment
    j's centre is the mean of its values, or ``centres[j]`` if it is empty.
    """
    n, k = len(sorted_v), len(centres)
    s1 = np.r_[0.0, np.cumsum(sorted_v)]
    starts, ends = np.r_[0, cuts], np.r_[cuts, n]
    sizes = ends - starts
    filled = sizes > 0
    seg_centres = np.asarray(centres, dtype=float).copy()
    seg_centres[filled] = (s1[ends] - s1[starts])[filled] / sizes[filled]
    # Segment of each value: the number of segment starts at or below it (cuts
    # never split a run of equal values; a start at n, an empty last segment, is +inf).
    bounds = np.where(cuts < n, sorted_v[np.minimum(cuts, n - 1)], np.inf)
    segment = np.searchsorted(bounds, v, side="right")
    inertia = float(np.sum((v - seg_centres[segment]) ** 2))
    order = np.argsort(-seg_centres, kind="stable")  # public cluster i is segment order[i]
    rank = np.empty(k, dtype=np.intp)
    rank[order] = np.arange(k)
    return Clusters(rank[segment], seg_centres[order], sizes[order], inertia, iterations)


def _lloyd(v: np.ndarray, k: int, init: str | np.ndarray, max_iter: int) -> Clusters:
    sorted_v = np.sort(v)
    n = len(sorted_v)
    s1 = np.r_[0.0, np.cumsum(sorted_v)]
    lo, hi = sorted_v[0], sorted_v[-1]
    n_distinct = 1 + int(np.count_nonzero(np.diff(sorted_v)))
    if isinstance(init, str):
        if init == "range":
            centres = lo + (np.arange(k) + 0.5) / k * (hi - lo)
        elif init == "quantile":
            centres = np.quantile(sorted_v, (np.arange(k) + 0.5) / k)
        else:
            raise FemeitError(f"init must be 'range', 'quantile' or an array of k centres, got {init!r}")
    else:
        centres = np.sort(np.asarray(init, dtype=float).ravel())
        if centres.shape != (k,) or not np.all(np.isfinite(centres)):
            raise FemeitError(f"init must hold {k} finite centres, got {init!r}")
    # The iteration works on k numbers: Python floats and bisection on a list
    # are several times faster than numpy calls on arrays of 4, with the same
    # floating-point operations (so the same clusters).
    values, sums = sorted_v.tolist(), s1.tolist()
    c = [float(x) for x in centres]
    cuts = None
    iterations = 0
    while iterations < max_iter:
        iterations += 1
        # Nearest centre: the midpoints between consecutive centres split the
        # sorted values; a value exactly on a midpoint goes to the lower centre.
        new_cuts = [bisect_right(values, 0.5 * (c[j] + c[j + 1])) for j in range(k - 1)]
        if new_cuts == cuts:
            break
        cuts = new_cuts
        edges = [0, *cuts, n]  # segment j is sorted_v[edges[j]:edges[j + 1]]
        sizes = [edges[j + 1] - edges[j] for j in range(k)]
        c = [(sums[edges[j + 1]] - sums[edges[j]]) / sizes[j] if sizes[j] > 0 else c[j] for j in range(k)]
        if not all(sizes) and sum(1 for z in sizes if z) < n_distinct:
            # An empty cluster restarts at the value farthest from its own centre
            # (deterministic; it splits the cluster that fits worst).
            distance = np.abs(sorted_v - np.repeat(c, sizes))
            c[sizes.index(0)] = float(sorted_v[np.argmax(distance)])
        c.sort()  # keep the centres ordered for the midpoints
    cuts, centres = np.asarray(cuts, dtype=np.intp), np.asarray(c)
    return _finish(v, sorted_v, cuts, centres, iterations)


def _segment_cost(s1: np.ndarray, s2: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Sum of squared deviations of sorted values a..b-1 (broadcast over a, b; b > a)."""
    count = b - a
    with np.errstate(invalid="ignore", divide="ignore"):
        cost = (s2[b] - s2[a]) - (s1[b] - s1[a]) ** 2 / count
    return np.where(count > 0, np.maximum(cost, 0.0), np.inf)


def _exact(v: np.ndarray, k: int, chunk: int = 512) -> Clusters:
    sorted_v = np.sort(v)
    n = len(sorted_v)
    k_eff = min(k, len(np.unique(sorted_v)))
    s1 = np.r_[0.0, np.cumsum(sorted_v)]
    s2 = np.r_[0.0, np.cumsum(sorted_v**2)]
    # best[j][i]: least cost of the first i values in j + 1 clusters; arg[j][i]: start of the last cluster.
    idx = np.arange(n + 1)
    best = _segment_cost(s1, s2, np.zeros(n + 1, dtype=np.intp), idx)
    args = []
    for j in range(1, k_eff):
        new = np.full(n + 1, np.inf)
        arg = np.zeros(n + 1, dtype=np.intp)
        # The last layer only needs i = n.
        targets = np.array([n]) if j == k_eff - 1 else idx
        for start in range(0, len(targets), chunk):
            i = targets[start : start + chunk]
            m = idx[: i[-1], None]  # candidate starts of the last cluster (m < i)
            total = best[: i[-1], None] + _segment_cost(s1, s2, np.broadcast_to(m, (len(m), len(i))), i[None, :])
            total = np.where(m < i[None, :], total, np.inf)
            pick = np.argmin(total, axis=0)
            new[i] = total[pick, np.arange(len(i))]
            arg[i] = pick
        best = new
        args.append(arg)
    # Walk back the cuts (positions in the sorted values where a new cluster starts).
    cuts = []
    end = n
    for arg in reversed(args):
        end = int(arg[end])
        cuts.append(end)
    cuts = np.array(sorted(cuts), dtype=np.intp)
    starts, ends = np.r_[0, cuts], np.r_[cuts, n]
    centres = (s1[ends] - s1[starts]) / (ends - starts)
    if k_eff < k:
        # Fewer distinct values than clusters: the empty clusters get centres
        # between the two lowest filled ones (below a single one), so that the
        # largest and smallest values keep the first and last labels, as Lloyd's.
        if k_eff == 1:
            extra = centres[0] - np.arange(k - 1, 0, -1) * max(1.0, abs(centres[0]))
            centres, cuts = np.r_[extra, centres], np.zeros(k - 1, dtype=np.intp)
        else:
            extra = np.linspace(centres[0], centres[1], k - k_eff + 2)[1:-1]
            centres = np.r_[centres[:1], extra, centres[1:]]
            cuts = np.r_[np.full(k - k_eff, cuts[0], dtype=np.intp), cuts]
    return _finish(v, sorted_v, cuts, centres, 0)


def kmeans_1d(
    values: np.ndarray, k: int = 4, method: str = "lloyd", init: str | np.ndarray = "range", max_iter: int = 300
) -> Clusters:
    """Cluster scalar values into k groups, sorted by centre, largest first.

    Parameters
    ----------
    values : ndarray, shape (n,)
        E.g. the pixel values of an image.
    k : int
        Number of clusters (SMDR: 4).
    method : {"lloyd", "best", "exact"}
        Lloyd's iteration (eqs. 11-13 of the SMDR paper) from ``init``; Lloyd's
        iteration from both the "range" and the "quantile" start, keeping the
        clustering of lower eq.-11 cost ("best"; ``init`` is ignored); or the
        global optimum of eq. 11 by dynamic programming (slower: O(k n^2)).
    init : {"range", "quantile"} or ndarray, shape (k,)
        Lloyd only: centres evenly spaced over [min, max] (default; it gives the
        few large values of an image's objects a centre of their own), at the
        quantiles (i + 1/2) / k, or given.
    max_iter : int
        Lloyd only: iteration limit (it stops earlier when the assignment stops changing).

    Returns
    -------
    Clusters
        ``labels`` 0..k-1 with 0 the cluster of the largest centre.
    """
    v = _check_values(values, k)
    if method == "best":
        # Lloyd from both deterministic starts, the lower eq.-11 cost kept.
        runs = [_lloyd(v, int(k), start, max_iter) for start in ("range", "quantile")]
        return min(runs, key=lambda c: c.inertia)
    if method == "lloyd":
        return _lloyd(v, int(k), init, max_iter)
    if method == "exact":
        return _exact(v, int(k))
    raise FemeitError(f"method must be 'lloyd', 'best' or 'exact', got {method!r}")
