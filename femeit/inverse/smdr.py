"""Sensitivity matrix decomposition re-reconstruction (SMDR), Sensors 24, 333 (2024), doi:10.3390/s24020333.

The paper: "Posterior approximate clustering-based sensitivity matrix decomposition for
electrical impedance tomography", Sensors 24(2), 333 (2024), doi:10.3390/s24020333.

The steps of the paper (Algorithm 1), with S the sensitivity (m x n), y the
difference data (m) and R_lam(S) = (S'S + lam I)^-1 S' the Tikhonov
reconstruction matrix with L = I (eqs. 8-9):

1. ``x0 = R_lam(S) y``, the Tikhonov image.
2. k-means with k = 4 on the pixel values of x0 (eqs. 11-13); clusters sorted
   by centre, largest first: Object, Artifact-Object Mixture, Artifact,
   Background (:data:`CLUSTER_NAMES`).
3. Decompose S by columns (eqs. 10, 14): ``S_W = S diag(w)`` with w the
   indicator of a working area W, i.e. the columns of pixels outside W set to 0.
4. Re-reconstruct on the working area A = {Object, Mixture, Artifact}:
   ``x_A = R_lam(S_A) y`` (eq. 16), and on R = {Artifact}: ``x_R = R_lam(S_R) y``
   (eq. 17); the difference ``x_D = x_A - x_R`` (eq. 18) removes the blurred
   boundary.  Pixels outside a working area are 0 in its image (a zero column
   of S gets a zero pixel from Tikhonov).
5. Filter and normalise (eq. 19): ``x_N = max(x_D, 0) / max(x_D)``.
6. Post-process (eq. 20): k-means (k = 4) on x_N; the Artifact and Background
   clusters are set to 0.

Choices where the paper leaves one open:

* lambda: one value for all three Tikhonov solves (the paper's R_lam in eqs.
  16-17 carries the same subscript); :func:`smdr` takes the L-curve corner of
  the data when none is given.
* k-means: deterministic, :func:`femeit.inverse.kmeans.kmeans_1d` (Lloyd's
  iteration from centres spread evenly over the value range, or the exact 1D
  optimum with ``kmeans="exact"``), so the same data give the same image.
* If x_D has no positive value, the image is all zero (nothing to normalise).
* The location compensation of section 3.1, a weight depending on r_i / R
  (r_i the distance of pixel i from the centre, R the domain's radius)
  applied to the results of all methods: its formula is lost in our text copy
  of the article, and we could not recover it (the open-access article was
  not reachable from where femeit was written; the search of stored copies
  returned only its opening).  It is therefore optional and off by default,
  for SMDR and for the methods it is compared with alike.  Pass
  ``compensation`` (one weight per pixel, e.g. from
  :func:`location_compensation`, our stand-in, not the paper's) to multiply
  the final image.

Speed: the restricted solves use the dual form ``R_lam(S_W) y = S_W'
(S_W S_W' + lam I_m)^-1 y``, an m x m system (m = 208 for 16 electrodes)
whatever the number of pixels.  ``S_W S_W'`` is a symmetric rank-k update
(BLAS ``syrk``) over the pixels of W, or ``S S' -`` the update over the pixels
outside W when those are fewer; ``S S'`` is computed once by :class:`SMDR`.
Of the three pixel sets Object + Mixture, Artifact and Background, the largest
is never touched (``S_A S_A'`` and ``S_R S_R'`` differ by the first).  The
m x m systems are solved by Cholesky; for lam below 1e-10 s_max^2 (or if
Cholesky fails) by a symmetric eigendecomposition that drops the eigenvalues
below rounding level (slower, but the dual form stays accurate), and without
subtractions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla
from scipy.linalg.blas import dsyrk
from scipy.linalg.lapack import dposv

from femeit._checks import matrix_and_data
from femeit.errors import FemeitError
from femeit.inverse.kmeans import Clusters, kmeans_1d
from femeit.inverse.leastsquares import choose_lambda, prepare

CLUSTER_NAMES = ("object", "mixture", "artifact", "background")
"""Names of the four clusters, in the order of their labels 0..3 (decreasing centre)."""

OBJECT, MIXTURE, ARTIFACT, BACKGROUND = range(4)


@dataclass(frozen=True, eq=False)
class SMDRResult:
    """The SMDR image and every intermediate product, for plotting and checks.

    All images have shape (n,), one value per grid parameter (pixel).

    Attributes
    ----------
    x : ndarray
        Final image (step 6), dimensionless, in [0, 1] (times ``compensation`` if given).
    x0 : ndarray
        Tikhonov image (step 1), units of the sensitivity's parameters.
    clusters0 : Clusters
        k-means of x0 (step 2): ``labels`` 0..3 = Object, Mixture, Artifact, Background.
    area_a, area_r : ndarray of bool
        Working areas {Object, Mixture, Artifact} and {Artifact} (step 4).
    x_a, x_r, x_d : ndarray
        Re-reconstructions on the working areas and their difference (eqs. 16-18).
    x_n : ndarray
        Filtered and normalised difference (eq. 19).
    clusters_post : Clusters
        k-means of x_n (step 6).
    lam : float
        Regularisation parameter of the three Tikhonov solves.
    peak : float
        ``max(x_D)`` (0 if x_D has no positive value): ``peak * x`` is the
        image in the units of x0.
    """

    x: np.ndarray
    x0: np.ndarray
    clusters0: Clusters
    area_a: np.ndarray
    area_r: np.ndarray
    x_a: np.ndarray
    x_r: np.ndarray
    x_d: np.ndarray
    x_n: np.ndarray
    clusters_post: Clusters
    lam: float
    peak: float


def filter_normalize(x_d: np.ndarray) -> np.ndarray:
    """Keep the positive part and divide by its maximum, SMDR eq. 19.

    Parameters
    ----------
    x_d : ndarray, shape (n,)

    Returns
    -------
    ndarray, shape (n,)
        ``max(x_d, 0) / max(x_d)`` in [0, 1]; all zero when ``x_d`` has no positive value.
    """
    x = np.asarray(x_d, dtype=float)
    if not np.all(np.isfinite(x)):
        raise FemeitError("the image contains NaN or infinite values")
    peak = float(x.max()) if x.size else 0.0
    if peak <= 0:
        return np.zeros_like(x)
    return np.maximum(x, 0.0) / peak


def filter_normalize_signed(x_d: np.ndarray, x_a: np.ndarray) -> tuple[np.ndarray, float]:
    """Eq. 19 for changes of either sign: keep ``x_d`` where it removes blur from ``x_a``, normalise.

    Per pixel, ``sign(x_a) * clip(sign(x_a) * x_d, 0, |x_a|)``: the part of
    the difference image with the sign of the re-reconstruction ``x_a``, and
    never larger than ``|x_a|``.  For a positive ``x_a`` and an artifact image
    ``x_r >= 0`` this is eq. 19's ``max(x_d, 0)``; the cap stops an
    oscillating ``x_r`` of the other sign from adding spikes (the difference
    of eq. 18 is there to remove the blurred boundary, not to add to it).
    Divided by its largest magnitude.

    Parameters
    ----------
    x_d, x_a : ndarray, shape (n,)
        Difference image (eq. 18) and re-reconstruction on area A (eq. 16).

    Returns
    -------
    x_n : ndarray, shape (n,)
        In [-1, 1]; all zero when nothing is kept.
    peak : float
        The largest kept magnitude (0 when nothing is kept): ``peak * x_n`` is
        the image in the units of ``x_d``.
    """
    x_d, x_a = np.asarray(x_d, dtype=float), np.asarray(x_a, dtype=float)
    if not (np.all(np.isfinite(x_d)) and np.all(np.isfinite(x_a))):
        raise FemeitError("the image contains NaN or infinite values")
    s = np.sign(x_a)
    kept = s * np.clip(s * x_d, 0.0, np.abs(x_a))
    peak = float(np.abs(kept).max()) if kept.size else 0.0
    return (kept / peak if peak > 0 else np.zeros_like(kept)), peak


def suppress_artifacts(x: np.ndarray, kmeans: str = "lloyd") -> tuple[np.ndarray, Clusters]:
    """SMDR post-process (eq. 20): k-means (k = 4), Artifact and Background clusters set to 0.

    Parameters
    ----------
    x : ndarray, shape (n,)
        An image, normally the output of :func:`filter_normalize`.
    kmeans : {"lloyd", "exact"}
        Method of :func:`femeit.inverse.kmeans.kmeans_1d`.

    Returns
    -------
    image : ndarray, shape (n,)
        ``x`` on the Object and Mixture clusters, 0 elsewhere.
    clusters : Clusters
    """
    x = np.asarray(x, dtype=float)
    clusters = kmeans_1d(x, 4, method=kmeans)
    return np.where(clusters.labels <= MIXTURE, x, 0.0), clusters


def location_compensation(centres: np.ndarray, radius: float, gain: float = 1.0) -> np.ndarray:
    """Per-pixel weights ``1 + gain (1 - r_i / R)`` that lift the weakly sensed centre of a disk.

    The SMDR paper adjusts all results by a function of r_i / R (section 3.1)
    whose formula is lost in our copy; this linear ramp (``1 + gain`` at the
    centre, 1 on the rim, 1 beyond it) is our stand-in.  Pass it as
    ``compensation`` to :class:`SMDR` or :func:`smdr`; nothing applies it by default.

    Parameters
    ----------
    centres : ndarray, shape (n, 2)
        Pixel centres, m, relative to the disk's centre.
    radius : float
        Disk radius R, m.
    gain : float
        Extra weight at the centre (>= 0).

    Returns
    -------
    ndarray, shape (n,)
    """
    c = np.asarray(centres, dtype=float)
    if c.ndim != 2 or not np.all(np.isfinite(c)):
        raise FemeitError(f"centres must be a finite (n, dim) array, got shape {c.shape}")
    if not (np.isfinite(radius) and radius > 0):
        raise FemeitError(f"radius must be positive, got {radius}")
    if not (np.isfinite(gain) and gain >= 0):
        raise FemeitError(f"gain must be non-negative, got {gain}")
    r = np.minimum(np.linalg.norm(c, axis=1) / radius, 1.0)
    return 1.0 + gain * (1.0 - r)


class SMDR:
    """SMDR reconstruction with everything that depends only on (S, lambda) computed once.

    Parameters
    ----------
    jac : ndarray, shape (m, n)
        Sensitivity on the reconstruction grid (e.g. ``model.jacobian(sigma0,
        basis=grid.P)``, or its normalised form), data per unit parameter.
    lam : float
        Tikhonov parameter (> 0) of steps 1 and 4, in units of S's squared
        singular values.
    kmeans : {"lloyd", "best", "exact"}
        Clustering of steps 2 and 6 (:func:`femeit.inverse.kmeans.kmeans_1d`).
    compensation : ndarray, shape (n,), optional
        Location compensation weights multiplying the final image (see
        :func:`location_compensation`); None (default) for none.
    system : LinearSystem, optional
        The SVD of ``jac`` if already computed.
    signed : bool
        False (default): the paper's steps, positive changes only.  True (our
        extension for changes of either sign): both k-means cluster the
        magnitude of the image (Object = largest |value| of either sign,
        Background = nearest 0), and eq. 19 becomes
        :func:`filter_normalize_signed`; the image then lies in [-1, 1].
    units : ndarray, shape (n,), optional
        When ``jac`` is a column-scaled ``S / units`` (e.g. the NOSER scaling),
        the k-means of steps 2 and 6 cluster the image in the original
        parameters, ``z / units``, not the scaled unknowns z.

    Examples
    --------
    >>> solver = SMDR(jac, lam=1e-2 * np.linalg.norm(jac, 2) ** 2)  # doctest: +SKIP
    >>> result = solver(dz)          # SMDRResult; result.x is the image
    """

    def __init__(
        self,
        jac: np.ndarray,
        lam: float,
        *,
        kmeans: str = "lloyd",
        compensation=None,
        system=None,
        signed: bool = False,
        units: np.ndarray | None = None,
    ) -> None:
        jac = matrix_and_data(jac, name="the sensitivity matrix")[0]
        if not (np.isfinite(lam) and lam > 0):
            raise FemeitError(f"lambda must be a positive number, got {lam}")
        if kmeans not in ("lloyd", "best", "exact"):
            raise FemeitError(f"kmeans must be 'lloyd', 'best' or 'exact', got {kmeans!r}")
        m, n = jac.shape
        if units is not None:
            units = np.asarray(units, dtype=float)
            if units.shape != (n,) or not np.all(np.isfinite(units) & (units > 0)):
                raise FemeitError(f"units must hold {n} positive finite values, got shape {units.shape}")
        self.signed = bool(signed)
        self._units = units
        if compensation is not None:
            compensation = np.asarray(compensation, dtype=float)
            if compensation.shape != (n,) or not np.all(np.isfinite(compensation)):
                raise FemeitError(f"compensation must hold {n} finite weights, got shape {compensation.shape}")
        self.lam = float(lam)
        self.kmeans = kmeans
        self.compensation = compensation
        self.shape = (m, n)
        # Rows of S' are pixels: a working area is a row selection, and its
        # transpose is the Fortran-ordered (m, n_W) block BLAS wants.
        self._st = np.ascontiguousarray(jac.T)
        self._gram = dsyrk(1.0, self._st.T)  # upper triangle of S S', (m, m)
        system = prepare(jac) if system is None else system  # the SVD: step 1 is exact for any lambda
        self._system = system
        self._r0 = system.tikhonov_matrix(self.lam)  # R_lam(S), (n, m)
        # Cholesky of S_W S_W' + lam I is accurate while lam is well above the
        # rounding level of S S' (an adjacent protocol's S S' is singular).
        self._cholesky = self.lam >= 1e-10 * system.s[0] ** 2

    def with_lambda(self, lam: float) -> SMDR:
        """The same sensitivity with another lambda, reusing S S' and the SVD (for a per-frame choice)."""
        import copy

        if not (np.isfinite(lam) and lam > 0):
            raise FemeitError(f"lambda must be a positive number, got {lam}")
        other = copy.copy(self)
        other.lam, other._r0 = float(lam), None  # step 1 then goes through the SVD, no matrix formed
        other._cholesky = other.lam >= 1e-10 * self._system.s[0] ** 2
        return other

    def tikhonov(self, data: np.ndarray) -> np.ndarray:
        """Step 1: ``x0 = R_lam(S) y``, shape (n,)."""
        return self._x0(self._check(data))

    def _x0(self, y: np.ndarray) -> np.ndarray:
        return self._r0 @ y if self._r0 is not None else self._system.tikhonov_path(y, [self.lam])[0]

    def restricted(self, area: np.ndarray, data: np.ndarray) -> np.ndarray:
        """Tikhonov with the decomposed sensitivity ``S diag(area)`` (eqs. 14-17), shape (n,).

        Pixels outside ``area`` (a boolean mask, shape (n,)) are 0.
        """
        area = np.asarray(area, dtype=bool)
        if area.shape != (self.shape[1],):
            raise FemeitError(f"the working area must be a mask of {self.shape[1]} pixels, got {area.shape}")
        return self._restricted(area, self._check(data))

    def _restricted(self, area: np.ndarray, y: np.ndarray) -> np.ndarray:
        if not area.any():
            return np.zeros(self.shape[1])
        if np.count_nonzero(area) <= self.shape[1] // 2 or not self._cholesky:
            gram = self._update(area, 1.0)
        else:
            gram = self._update(~area, -1.0, self._gram)
        return self._solve(gram, area, y)

    def _update(self, rows: np.ndarray, sign: float, base: np.ndarray | None = None) -> np.ndarray:
        """Upper triangle of ``base + sign * S_rows S_rows'`` (a new array), BLAS syrk."""
        m = self.shape[0]
        if not rows.any():
            return np.zeros((m, m), order="F") if base is None else base.copy(order="F")
        block = self._st[rows].T  # (m, n_rows), Fortran-ordered
        if base is None:
            return dsyrk(sign, block)
        return dsyrk(sign, block, beta=1.0, c=base)

    def _solve(self, gram: np.ndarray, area: np.ndarray, y: np.ndarray) -> np.ndarray:
        """``S_W' (gram + lam I)^-1 y`` on the pixels of ``area``, 0 elsewhere (``gram``: upper triangle)."""
        m = self.shape[0]
        info = 1
        if self._cholesky:
            shifted = gram.copy(order="F")
            shifted[np.diag_indices(m)] += self.lam
            _, z, info = dposv(shifted, y, lower=0, overwrite_a=1)
        if info != 0:
            # Eigen-decomposition with the eigenvalues below rounding level dropped
            # (their eigenvectors are numerically outside the range of S_W).
            full = np.triu(gram) + np.triu(gram, 1).T
            w, q = sla.eigh(full)
            keep = w > m * np.finfo(float).eps * max(w[-1], 0.0)
            q = q[:, keep]
            z = q @ ((q.T @ y) / (w[keep] + self.lam))
        x = self._st @ z  # a full product is cheaper than gathering the rows of the area
        x[~area] = 0.0
        return x

    def _clustered(self, z: np.ndarray) -> np.ndarray:
        """The values k-means sees: the image in its parameters (z / units), in magnitude when signed."""
        x = z if self._units is None else z / self._units
        return np.abs(x) if self.signed else x

    def _check(self, data: np.ndarray) -> np.ndarray:
        y = np.asarray(data, dtype=float)
        if y.shape != (self.shape[0],):
            raise FemeitError(f"data must hold {self.shape[0]} values (one frame), got shape {y.shape}")
        if not np.all(np.isfinite(y)):
            raise FemeitError("data contain NaN or infinite values; drop missing rows explicitly")
        return y

    def __call__(self, data: np.ndarray) -> SMDRResult:
        """Reconstruct one frame.

        Parameters
        ----------
        data : ndarray, shape (m,)
            Difference data (frame minus reference, or its normalised form
            matching the sensitivity).

        Returns
        -------
        SMDRResult
        """
        y = self._check(data)
        x0 = self._x0(y)
        clusters0 = kmeans_1d(self._clustered(x0), 4, method=self.kmeans)
        labels = clusters0.labels
        area_a, area_r = labels != BACKGROUND, labels == ARTIFACT
        # With OM = Object + Mixture and B = Background, S_A S_A' and S_R S_R'
        # need updates over two of OM, R, B: skip the largest.  S_A S_A' =
        # S_R S_R' + S_OM S_OM' = S S' - S_B S_B', S_R S_R' = S_A S_A' - S_OM S_OM'.
        object_mixture, background = labels <= MIXTURE, labels == BACKGROUND
        sizes = [np.count_nonzero(a) for a in (object_mixture, area_r, background)]
        largest = int(np.argmax(sizes)) if self._cholesky else 2  # subtraction needs lam above rounding
        if largest == 2:
            gram_r = self._update(area_r, 1.0)
            gram_a = self._update(object_mixture, 1.0, gram_r)
        elif largest == 0:
            gram_a = self._update(background, -1.0, self._gram)
            gram_r = self._update(area_r, 1.0)
        else:
            gram_a = self._update(background, -1.0, self._gram)
            gram_r = self._update(object_mixture, -1.0, gram_a)
        x_a = self._solve(gram_a, area_a, y)
        x_r = self._solve(gram_r, area_r, y) if area_r.any() else np.zeros_like(x_a)
        x_d = x_a - x_r
        if self.signed:
            x_n, peak = filter_normalize_signed(x_d, x_a)
            clusters_post = kmeans_1d(self._clustered(x_n), 4, method=self.kmeans)
            x = np.where(clusters_post.labels <= MIXTURE, x_n, 0.0)
        else:
            x_n = filter_normalize(x_d)
            x, clusters_post = suppress_artifacts(x_n, self.kmeans)
            peak = max(float(x_d.max()), 0.0)
        if self.compensation is not None:
            x = x * self.compensation
        return SMDRResult(x, x0, clusters0, area_a, area_r, x_a, x_r, x_d, x_n, clusters_post, self.lam, peak)


def smdr(
    jac: np.ndarray,
    data: np.ndarray,
    lam: float | None = None,
    *,
    kmeans: str = "lloyd",
    compensation: np.ndarray | None = None,
) -> SMDRResult:
    """Sensitivity matrix decomposition re-reconstruction of one frame (SMDR, Sensors 2024).

    See the module docstring for the steps and the choices made.  For many
    frames with one sensitivity, build an :class:`SMDR` once and call it.

    Parameters
    ----------
    jac : ndarray, shape (m, n)
        Sensitivity on the reconstruction grid.
    data : ndarray, shape (m,)
        Difference data.
    lam : float, optional
        Tikhonov parameter; default: the L-curve corner of ``data``
        (:func:`femeit.inverse.choose_lambda`).
    kmeans : {"lloyd", "exact"}
    compensation : ndarray, shape (n,), optional
        Location compensation weights for the final image (off by default).

    Returns
    -------
    SMDRResult
        ``.x`` the image (dimensionless, in [0, 1]), with the intermediate products.
    """
    if lam is None:
        lam = choose_lambda(prepare(jac), data)["lam"]
    return SMDR(jac, lam, kmeans=kmeans, compensation=compensation)(data)
