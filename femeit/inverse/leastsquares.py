"""One-step least-squares reconstruction and the choice of its regularisation parameter.

Notation of Gasulla & Pallas-Areny (IEEE Sensors J. 2005): sensitivity S
(m x n), data change dz (m), conductivity change dsigma (n).

* Marquardt / damped least squares / standard Tikhonov, eq. 18:
  ``dsigma = (S'S + lam I)^-1 S' dz``.
* Occam, eq. 17: ``dsigma = (S'S + lam L'L)^-1 S' dz`` with L a difference operator.
* Truncated SVD, eqs. 14-15: ``dsigma = sum_{i<=r} v_i u_i' dz / s_i``.

Everything goes through one SVD.  For Occam we bring the problem to standard
form with the Cholesky factor R of ``L'L + eps I`` (S~ = S R^-1, x = R^-1 z);
``eps`` (1e-8 times the mean diagonal of L'L, our choice) makes R exist, since
a difference operator annihilates constants.  The SVD is computed once per
Jacobian, so a new frame or a new lambda costs one small matrix product, and an
L-curve or GCV sweep over 100 lambdas is vectorised over lambda.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp

from femeit._checks import matrix_and_data
from femeit.errors import FemeitError


def _check_system(jac: np.ndarray, data: np.ndarray | None = None) -> np.ndarray:
    return matrix_and_data(jac, data, name="the sensitivity matrix", frames=True)[0]


@dataclass(frozen=True, eq=False)
class LinearSystem:
    """The SVD of a (standard-form) sensitivity matrix, reused for every frame and parameter.

    Build with :func:`prepare`.  Attributes: ``u`` (m, k), ``s`` (k,), ``v`` (n, k)
    of the standard-form matrix, and ``back`` (n, n) or None, the map R^-1 from
    standard-form to original parameters (None for L = I).
    """

    u: np.ndarray
    s: np.ndarray
    v: np.ndarray
    back: np.ndarray | None = None

    @property
    def n_data(self) -> int:
        """Number of data rows m."""
        return self.u.shape[0]

    def _to_params(self, z: np.ndarray) -> np.ndarray:
        return z if self.back is None else self.back @ z

    def filter_matrix(self, factors: np.ndarray) -> np.ndarray:
        """Reconstruction matrix ``R = back V diag(factors / s) U'``, shape (n, m)."""
        return self._to_params(self.v * (factors / self.s)) @ self.u.T

    def tikhonov_matrix(self, lam: float) -> np.ndarray:
        """Reconstruction matrix of Tikhonov (or Occam) regularisation with parameter ``lam``."""
        if not (np.isfinite(lam) and lam >= 0):
            raise FemeitError(f"lambda must be a non-negative number, got {lam}")
        return self.filter_matrix(self.s**2 / (self.s**2 + lam))

    def iterated_tikhonov_matrix(self, lam: float, iterations: int) -> np.ndarray:
        """Reconstruction matrix of ``iterations`` steps of iterated Tikhonov from x = 0.

        ``x_{t+1} = x_t + (S'S + lam I)^-1 S'(y - S x_t)``, whose filter factors are
        ``1 - (lam / (s^2 + lam))^iterations`` (one step is :meth:`tikhonov_matrix`).
        The KGPSR-BB paper's "TIK" comparator: lam = 0.01, 100 iterations (Table 1).
        Re-solving ``S'S + lam I`` in each iteration, as the paper's 8-9 s per
        812-pixel frame suggest it did, gives the same iterates at O(n^3) per
        step; here the filter factors cost one matrix-vector product per frame.
        """
        if not (np.isfinite(lam) and lam > 0):
            raise FemeitError(f"lambda must be a positive number, got {lam}")
        if not (isinstance(iterations, int | np.integer) and iterations >= 1):
            raise FemeitError(f"iterations must be a positive integer, got {iterations!r}")
        return self.filter_matrix(1.0 - (lam / (self.s**2 + lam)) ** int(iterations))

    def tsvd_matrix(self, rank: int) -> np.ndarray:
        """Reconstruction matrix of the rank-``rank`` truncated SVD."""
        if not 1 <= rank <= len(self.s):
            raise FemeitError(f"rank must lie in 1..{len(self.s)}, got {rank}")
        f = np.zeros_like(self.s)
        f[:rank] = 1.0
        return self.filter_matrix(f)

    def tikhonov_path(self, data: np.ndarray, lambdas: np.ndarray) -> np.ndarray:
        """Tikhonov (or Occam) solutions for many lambdas at once, shape (n_lambdas, n_params).

        Cheaper than one :meth:`tikhonov_matrix` per lambda: the data are
        projected on the singular vectors once and only the filter changes.
        """
        lambdas = np.atleast_1d(np.asarray(lambdas, dtype=float))
        if not np.all(np.isfinite(lambdas) & (lambdas >= 0)):
            raise FemeitError("lambdas must be non-negative numbers")
        if np.ndim(data) != 1:
            raise FemeitError(f"one frame of data, shape (n_data,), expected; got shape {np.shape(data)}")
        coefficients = self._coefficients(data) / self.s
        factors = self.s**2 / (self.s[None, :] ** 2 + lambdas[:, None])
        return self._to_params(self.v @ (factors * coefficients).T).T

    def tsvd_path(self, data: np.ndarray) -> np.ndarray:
        """TSVD solutions of every rank 1..r, shape (r, n_params)."""
        if np.ndim(data) != 1:
            raise FemeitError(f"one frame of data, shape (n_data,), expected; got shape {np.shape(data)}")
        terms = self.v * (self._coefficients(data) / self.s)
        return self._to_params(np.cumsum(terms, axis=1)).T

    def _coefficients(self, data: np.ndarray) -> np.ndarray:
        data = np.asarray(data, dtype=float)
        if data.shape[0] != self.n_data:
            raise FemeitError(f"data has {data.shape[0]} values, the system {self.n_data} rows")
        if not np.all(np.isfinite(data)):
            raise FemeitError("data contain NaN or infinite values; drop missing rows explicitly")
        return self.u.T @ data

    def lcurve(self, data: np.ndarray, lambdas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Residual norms ||S x - y|| and (standard-form) solution norms ||z|| for each lambda.

        The part of the data outside the range of S adds a constant to the residual.
        """
        beta = self._coefficients(data)
        outside = max(float(np.linalg.norm(data) ** 2 - np.linalg.norm(beta) ** 2), 0.0)
        lam = np.asarray(lambdas, dtype=float)[:, None]
        f = self.s**2 / (self.s**2 + lam)
        residual = np.sqrt(np.sum(((1 - f) * beta) ** 2, axis=1) + outside)
        solution = np.sqrt(np.sum((f * beta / self.s) ** 2, axis=1))
        return residual, solution

    def discrete_lcurve(self, data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Residual and solution norms of the TSVD solution for ranks 1..k."""
        beta = self._coefficients(data)
        outside = max(float(np.linalg.norm(data) ** 2 - np.linalg.norm(beta) ** 2), 0.0)
        solution = np.sqrt(np.cumsum((beta / self.s) ** 2))
        residual = np.sqrt(np.maximum(np.sum(beta**2) - np.cumsum(beta**2), 0.0) + outside)
        return residual, solution

    def gcv(self, data: np.ndarray, lambdas: np.ndarray) -> np.ndarray:
        """Generalised cross-validation function ||r||^2 / (m - trace(influence))^2 for each lambda."""
        residual, _ = self.lcurve(data, lambdas)
        f = self.s**2 / (self.s**2 + np.asarray(lambdas, dtype=float)[:, None])
        return residual**2 / (self.n_data - f.sum(axis=1)) ** 2


def prepare(jac: np.ndarray, regulariser: sp.spmatrix | np.ndarray | None = None) -> LinearSystem:
    """SVD of the sensitivity matrix, in standard form for a regulariser L.

    Parameters
    ----------
    jac : ndarray, shape (m, n)
        Sensitivity (Jacobian) on the reconstruction grid.
    regulariser : sparse or ndarray, shape (p, n), optional
        L of Occam's method (e.g. ``grid.difference_operator(2)``); None for L = I.
    """
    jac = _check_system(jac)
    back = None
    if regulariser is not None:
        if regulariser.shape[1] != jac.shape[1]:
            raise FemeitError(f"the regulariser must have {jac.shape[1]} columns, got {regulariser.shape}")
        ltl = regulariser.T @ regulariser
        ltl = ltl.toarray() if sp.issparse(ltl) else np.asarray(ltl, dtype=float)
        eps = 1e-8 * max(np.trace(ltl) / len(ltl), 1e-300)
        r = sla.cholesky(ltl + eps * np.eye(len(ltl)), lower=False)  # L'L + eps I = R'R
        back = sla.solve_triangular(r, np.eye(len(r)), lower=False)  # R^-1
        jac = jac @ back
    u, s, vt = np.linalg.svd(jac, full_matrices=False)
    keep = s > s[0] * 1e-14 if s[0] > 0 else np.zeros_like(s, dtype=bool)
    if not keep.any():
        raise FemeitError("the sensitivity matrix is zero")
    return LinearSystem(u[:, keep], s[keep], vt[keep].T, back)


def lcurve_corner(residual: np.ndarray, solution: np.ndarray) -> int:
    """Index of the corner of a discrete L-curve (log residual, log solution), e.g. TSVD ranks.

    The curvature at each inner point is that of the circle through it and its
    two neighbours (Menger curvature); only convex corners (bending towards the
    origin) count.  For a continuous lambda use :func:`lcurve_curvature`.
    """
    x, y = np.log(np.asarray(residual, float)), np.log(np.asarray(solution, float))
    if len(x) < 3:
        raise FemeitError("an L-curve needs at least 3 points")
    a = np.column_stack([x[:-2], y[:-2]])
    b = np.column_stack([x[1:-1], y[1:-1]])
    c = np.column_stack([x[2:], y[2:]])
    cross = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])
    sides = np.linalg.norm(b - a, axis=1) * np.linalg.norm(c - b, axis=1) * np.linalg.norm(c - a, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        curvature = np.where(sides > 0, 2 * cross / sides, 0.0)
    # Along increasing lambda the residual grows and the norm shrinks: a corner
    # towards the origin turns clockwise, i.e. negative cross product when the
    # points are ordered by decreasing lambda; normalise the orientation first.
    if x[-1] < x[0]:
        curvature = -curvature
    return int(np.argmax(curvature)) + 1


def tikhonov(jac: np.ndarray, data: np.ndarray, lam: float) -> np.ndarray:
    """Marquardt / damped least squares / standard Tikhonov, Gasulla 2005 eq. 18.

    ``x = (S'S + lam I)^-1 S' y``.  Shapes: jac (m, n), data (m,) or (m, frames); returns (n,) or (n, frames).
    """
    return prepare(jac).tikhonov_matrix(lam) @ _check_data(jac, data)


def occam(jac: np.ndarray, data: np.ndarray, lam: float, regulariser) -> np.ndarray:
    """Occam's method, Gasulla 2005 eq. 17: ``x = (S'S + lam L'L)^-1 S' y`` (see module docstring for eps)."""
    return prepare(jac, regulariser).tikhonov_matrix(lam) @ _check_data(jac, data)


def tsvd(jac: np.ndarray, data: np.ndarray, rank: int) -> np.ndarray:
    """Truncated SVD of rank ``rank``, Gasulla 2005 eqs. 14-15."""
    return prepare(jac).tsvd_matrix(rank) @ _check_data(jac, data)


def _check_data(jac: np.ndarray, data: np.ndarray) -> np.ndarray:
    _check_system(jac, data)
    return np.asarray(data, dtype=float)


def lambda_grid(system: LinearSystem, n: int = 100) -> np.ndarray:
    """A logarithmic grid of n lambdas from the smallest to the largest squared singular value.

    This is the range of Hansen's regularisation tools (``l_corner``): below
    s_min^2 the filter factors are all 1 and above s_max^2 the solution only
    shrinks, so neither side holds a meaningful corner.
    """
    s2 = system.s**2
    return np.logspace(np.log10(s2[-1]), np.log10(s2[0]), n)


def lcurve_curvature(lambdas: np.ndarray, residual: np.ndarray, solution: np.ndarray) -> np.ndarray:
    """Signed curvature of the L-curve (log residual, log solution) parametrised by log lambda.

    Positive where the curve bends towards the origin (a convex corner).
    """
    t = np.log(np.asarray(lambdas, dtype=float))
    x, y = np.log(residual), np.log(solution)
    dx, dy = np.gradient(x, t), np.gradient(y, t)
    ddx, ddy = np.gradient(dx, t), np.gradient(dy, t)
    with np.errstate(invalid="ignore", divide="ignore"):
        k = (dx * ddy - ddx * dy) / (dx**2 + dy**2) ** 1.5
    return np.nan_to_num(k, nan=-np.inf)


def choose_lambda(system: LinearSystem, data: np.ndarray, method: str = "lcurve", n: int = 100) -> dict:
    """Pick lambda automatically; returns the choice and the whole curve for plotting.

    Parameters
    ----------
    method : {"lcurve", "gcv"}
        L-curve corner by maximum curvature (Hansen), on the lambda range of
        :func:`lambda_grid`, or the minimum of GCV.

    Returns
    -------
    dict
        ``lam``, ``lambdas`` (n,), ``residual``, ``solution``, and ``curvature`` (L-curve) or ``gcv``.
    """
    lambdas = lambda_grid(system, n)
    residual, solution = system.lcurve(data, lambdas)
    out = {"lambdas": lambdas, "residual": residual, "solution": solution}
    if method == "lcurve":
        out["curvature"] = lcurve_curvature(lambdas, residual, solution)
        out["lam"] = float(lambdas[int(np.argmax(out["curvature"]))])
    elif method == "gcv":
        g = system.gcv(data, lambdas)
        out["gcv"] = g
        out["lam"] = float(lambdas[int(np.argmin(g))])
    else:
        raise FemeitError(f"method must be 'lcurve' or 'gcv', got {method!r}")
    return out


def choose_rank(system: LinearSystem, data: np.ndarray, lam: float | None = None) -> dict:
    """TSVD rank: the corner of the discrete L-curve, or the rank equivalent to a Tikhonov lambda.

    Parameters
    ----------
    lam : float, optional
        If given, the rank is the number of singular values with s^2 >= lam, the
        TSVD counterpart of Tikhonov with that lambda (its filter factor
        s^2 / (s^2 + lam) passes 1/2 there).  Otherwise the rank at the
        maximum-curvature corner of the discrete L-curve (:func:`lcurve_corner`).

    Returns
    -------
    dict
        ``rank``, ``residual`` and ``solution`` (the discrete L-curve, ranks 1..k).
    """
    residual, solution = system.discrete_lcurve(data)
    if lam is None:
        rank = lcurve_corner(residual, solution) + 1
    else:
        rank = max(1, int(np.sum(system.s**2 >= lam)))
    return {"rank": rank, "residual": residual, "solution": solution}


def normalize_system(jac: np.ndarray, z0_model: np.ndarray, sigma0: float) -> np.ndarray:
    """Sensitivity of relative data to relative conductivity, Gasulla 2005 eqs. 24-25.

    With measured data normalised as ``dz_rel = (z - z0) / z0`` (z0 the measured
    reference) and the image as ``x_rel = dsigma / sigma0``, the sensitivity is
    ``s_rel = sigma0 / z0_model * s``, where z0_model is the model's (theoretical)
    reference; errors common to z and z0 (electrode positions, tank size) cancel.

    Parameters
    ----------
    jac : ndarray, shape (m, n)
        Sensitivity dz/dsigma of the model, V per S/m.
    z0_model : ndarray, shape (m,)
        The model's reference readings, V (no zeros).
    sigma0 : float
        Reference conductivity, S/m.

    Returns
    -------
    ndarray, shape (m, n)
    """
    jac = _check_system(jac)
    z0_model = np.asarray(z0_model, dtype=float)
    if z0_model.shape != (jac.shape[0],) or np.any(z0_model == 0) or not np.all(np.isfinite(z0_model)):
        raise FemeitError(f"z0_model must hold {jac.shape[0]} finite non-zero values")
    if not (np.isfinite(sigma0) and sigma0 > 0):
        raise FemeitError(f"sigma0 must be positive, got {sigma0}")
    return jac * (sigma0 / z0_model)[:, None]
