"""Gauss-Newton absolute imaging: log-conductivity, noise-weighted data, smoothness or TV priors.

The objective, for log-conductivity parameters m = ln(sigma) (positivity
without constraints), is::

    Phi(m) = || W (d - f(m)) ||^2  +  lambda || R (m - m_ref) ||^2

with W = diag(1 / std) the data weighting of a noise model, f the forward
model (any femeit model: 2D/3D EIT, 2.5D ERT), R a roughness operator
(:func:`neighbour_operator`: first differences across the faces shared by
two elements, or its second-order form R' R, with anisotropic weights) and
m_ref a reference model.  chi^2 = ||W (d - f)||^2 / n.  This is the
regularised Gauss-Newton method of Constable, Parker & Constable (1987),
"Occam's inversion", Geophysics 52, 289-300, eq. (4)-(6), and of Günther,
Rücker & Spitzer (2006), "Three-dimensional modelling and inversion of dc
resistivity data incorporating topography - II. Inversion", Geophys. J. Int.
166, 506-517, eq. (2)-(9).  Each iteration solves the normal equations::

    (J' W'W J + lambda R'R) dm = J' W'W (d - f) - lambda R'R (m - m_ref)

by preconditioned conjugate gradients (Günther et al. 2006, section 2.3),
which only needs products with J and J': a dense Jacobian or the
matrix-free ``jvec``/``jtvec`` products of a model as a
:class:`scipy.sparse.linalg.LinearOperator`.

Choices where the papers leave one (ours):

- lambda: by default ``lambda_0 = trace(J'W'WJ) / trace(R'R)`` at the
  starting model, multiplied by ``cooling`` (0.5) after every iteration that
  has not reached the target (Günther et al. 2006 keep lambda fixed); when
  a step overshoots the target, lambda is raised by 1 / cooling (at most
  ``max_raise`` times) while the step still fits: the smoothest fitting
  step, as in Occam's search (Constable et al. 1987, section 3), which
  costs a forward solve per try;
- stopping: the discrepancy principle, chi^2 <= ``target`` (1), or a
  relative decrease of Phi below ``tolerance``, or ``max_iter`` iterations;
- line search: the full step when it lowers Phi, else the minimum of the
  parabola through Phi(0), Phi'(0) and Phi(1), then halvings (at most 3);
- total variation: iteratively reweighted least squares (Wohlberg &
  Rodriguez 2007, "An iteratively reweighted norm algorithm for minimization
  of total variation functionals", IEEE Signal Processing Letters 14,
  948-951): each iteration's rows of R are weighted by
  sqrt(eps / sqrt((R m)_i^2 + eps^2)), i.e. |g| ~ g^2 eps / sqrt(g^2 + eps^2),
  which is 1 for small jumps (so lambda keeps its smoothness scale);
- bounds: the step is projected onto [ln(lower), ln(upper)].
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from femeit.errors import FemeitError

__all__ = [
    "GaussNewtonResult",
    "gauss_newton",
    "invert_model",
    "neighbour_operator",
]


@dataclass(frozen=True, eq=False)
class GaussNewtonResult:
    """The iterates of a Gauss-Newton inversion.

    Attributes
    ----------
    log_conductivity : ndarray, shape (n_params,)
        Final model m = ln(sigma / (1 S/m)).
    chi2 : ndarray, shape (n_iter + 1,)
        chi^2 = ||W (d - f(m))||^2 / n of the starting model and of each iterate.
    lambdas : ndarray, shape (n_iter,)
        Regularisation parameter of each iteration.
    images : list of ndarray, shape (n_params,)
        The starting model and every iterate (log-conductivity).
    step_lengths : ndarray, shape (n_iter,)
        Line-search step of each iteration (1 for the full Gauss-Newton step).
    converged : bool
        True when chi^2 reached the target.
    message : str
        Why the iterations stopped.
    n_forward : int
        Forward solves made (line search included).
    response : ndarray, shape (n_data,)
        f(m) of the final model, in the units of the data.
    """

    log_conductivity: np.ndarray
    chi2: np.ndarray
    lambdas: np.ndarray
    images: list = field(repr=False)
    step_lengths: np.ndarray
    converged: bool
    message: str
    n_forward: int
    response: np.ndarray = field(repr=False)

    @property
    def conductivity(self) -> np.ndarray:
        """Final conductivity exp(m), S/m, shape (n_params,)."""
        return np.exp(self.log_conductivity)

    @property
    def iterations(self) -> int:
        """Gauss-Newton iterations made."""
        return len(self.lambdas)


def neighbour_operator(
    points: np.ndarray,
    cells: np.ndarray,
    *,
    order: int = 1,
    weights: tuple[float, ...] | None = None,
) -> sp.csr_matrix:
    """Roughness operator of a triangle or tetrahedron mesh: differences across shared faces.

    Row f of the first-order operator is ``w_f (m_i - m_j)`` for the two
    elements i, j that share face f (the constraint matrix of Günther et al.
    2006, eq. 8); ``w_f = sqrt(sum_k a_k n_k^2)`` with n the face's unit
    normal and a the per-axis ``weights``: a small a_z (e.g. 0.2) smooths less
    across horizontal faces, favouring layers (pyGIMLi's "zWeight" idea).

    Parameters
    ----------
    points : ndarray, shape (n_points, dim)
        Vertex coordinates, m (dim 2 or 3).
    cells : ndarray of int, shape (n_cells, dim + 1)
        Triangles (2D) or tetrahedra (3D).
    order : {1, 2}
        1: first differences, shape (n_faces, n_cells); 2: the second-order
        (Laplacian-like) operator R1' R1, shape (n_cells, n_cells).
    weights : tuple of float, length dim, optional
        Anisotropic weights a per axis (default all 1).

    Returns
    -------
    scipy.sparse.csr_matrix
    """
    p = np.asarray(points, dtype=float)
    t = np.asarray(cells)
    if p.ndim != 2 or p.shape[1] not in (2, 3):
        raise FemeitError(f"points must have shape (n_points, 2 or 3), got {p.shape}")
    dim = p.shape[1]
    if t.ndim != 2 or t.shape[1] != dim + 1 or not np.issubdtype(t.dtype, np.integer):
        raise FemeitError(f"cells must be integers of shape (n_cells, {dim + 1}), got {t.dtype} {t.shape}")
    if t.size and (t.min() < 0 or t.max() >= len(p)):
        raise FemeitError(f"cells name vertices outside 0..{len(p) - 1}")
    if order not in (1, 2):
        raise FemeitError(f"order must be 1 or 2, got {order!r}")
    a = np.ones(dim) if weights is None else np.asarray(weights, dtype=float)
    if a.shape != (dim,) or np.any(a < 0) or not np.all(np.isfinite(a)):
        raise FemeitError(f"weights must be {dim} non-negative numbers, got {weights!r}")
    n = len(t)
    local = list(itertools.combinations(range(dim + 1), dim))
    faces = np.sort(np.concatenate([t[:, list(c)] for c in local]), axis=1)
    owner = np.tile(np.arange(n), len(local))
    _, inverse, counts = np.unique(faces, axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.ravel()
    order_ = np.argsort(inverse, kind="stable")
    shared = counts[inverse[order_]] == 2
    pairs = order_[shared].reshape(-1, 2)  # two face entries per interior face
    ci, cj = owner[pairs[:, 0]], owner[pairs[:, 1]]
    verts = p[faces[pairs[:, 0]]]  # (n_faces, dim, dim)
    if dim == 2:
        e = verts[:, 1] - verts[:, 0]
        normal = np.column_stack([-e[:, 1], e[:, 0]])
    else:
        normal = np.cross(verts[:, 1] - verts[:, 0], verts[:, 2] - verts[:, 0])
    normal /= np.linalg.norm(normal, axis=1, keepdims=True)
    w = np.sqrt(normal**2 @ a)
    m = len(ci)
    rows = np.repeat(np.arange(m), 2)
    r1 = sp.csr_matrix((np.column_stack([w, -w]).ravel(), (rows, np.column_stack([ci, cj]).ravel())), shape=(m, n))
    return r1 if order == 1 else (r1.T @ r1).tocsr()


def _as_operator(jac) -> spla.LinearOperator:
    if isinstance(jac, spla.LinearOperator):
        return jac
    j = np.asarray(jac, dtype=float)
    if j.ndim != 2:
        raise FemeitError(f"the Jacobian must be a 2-D matrix or a LinearOperator, got shape {j.shape}")
    return spla.aslinearoperator(j)


def _diag_jtj(jac, weight: np.ndarray) -> np.ndarray:
    """diag(J' W'W J); for a LinearOperator a cheap random-probe estimate (Bekas et al. 2007)."""
    if not isinstance(jac, spla.LinearOperator):
        return np.einsum("ij,ij->j", jac, jac * (weight**2)[:, None])
    rng = np.random.default_rng(0)
    est = np.zeros(jac.shape[1])
    for _ in range(8):
        z = rng.choice([-1.0, 1.0], size=jac.shape[0])
        est += (jac.rmatvec(weight * z)) ** 2
    return est / 8


def gauss_newton(
    forward: Callable[[np.ndarray], np.ndarray],
    jacobian: Callable[[np.ndarray], np.ndarray | spla.LinearOperator],
    data: np.ndarray,
    std: np.ndarray,
    m0: np.ndarray,
    regulariser: sp.spmatrix,
    *,
    m_ref: np.ndarray | None = None,
    lam: float | None = None,
    cooling: float = 0.5,
    target: float = 1.0,
    max_iter: int = 10,
    prior: str = "smooth",
    tv_epsilon: float = 0.1,
    damping: float = 0.0,
    bounds: tuple[float, float] | None = None,
    tolerance: float = 1e-3,
    cg_tol: float = 1e-3,
    cg_maxiter: int = 300,
    max_raise: int = 3,
    callback: Callable[[int, np.ndarray, float, float], None] | None = None,
) -> GaussNewtonResult:
    """Regularised Gauss-Newton iterations in log-conductivity (module docstring).

    Parameters
    ----------
    forward : callable
        m (n_params,) -> predicted data (n_data,), in the units of ``data``.
    jacobian : callable
        m -> d f / d m, an ndarray (n_data, n_params) or a LinearOperator of
        that shape; called right after ``forward`` at the same m (so a model
        that caches its factorisation per conductivity solves once).
    data : ndarray, shape (n_data,)
        Measured data.
    std : ndarray, shape (n_data,)
        Their standard deviations (> 0), same units: W = diag(1 / std).
    m0 : ndarray, shape (n_params,)
        Starting log-conductivity (also the reference model by default).
    regulariser : sparse matrix, shape (n_rows, n_params)
        Roughness operator R (e.g. :func:`neighbour_operator`).
    m_ref : ndarray, shape (n_params,), optional
        Reference log-conductivity (default ``m0``).
    lam : float, optional
        Starting lambda (default trace(J'W'WJ) / trace(R'R) at m0).
    cooling : float
        Factor in (0, 1] applied to lambda after each iteration above the target.
    target : float
        chi^2 at which to stop (the discrepancy principle: 1).
    max_iter : int
        Most iterations.
    prior : {"smooth", "tv"}
        Quadratic smoothness, or total variation by IRLS.
    tv_epsilon : float
        TV smoothing epsilon, in log-conductivity units.
    damping : float
        Weight alpha of an extra ``alpha * lambda * ||m - m_ref||^2`` term.
    bounds : (float, float), optional
        Lower and upper conductivity, S/m (the iterates are projected).
    tolerance : float
        Stop when Phi decreases by less than this fraction in an iteration.
    cg_tol, cg_maxiter : float, int
        Relative residual and iteration limit of the conjugate gradients.
    max_raise : int
        When a step overshoots (chi^2 < target), lambda is raised by
        1 / cooling up to this many times while the step still reaches the
        target: the smoothest model at the discrepancy level (0: never).
    callback : callable, optional
        ``callback(iteration, m, chi2, lam)`` after each iteration.

    Returns
    -------
    GaussNewtonResult
    """
    d = np.asarray(data, dtype=float)
    s = np.asarray(std, dtype=float)
    m = np.array(m0, dtype=float)
    if d.ndim != 1 or not np.all(np.isfinite(d)):
        raise FemeitError(f"data must be a finite 1-D array, got shape {d.shape}")
    if s.shape != d.shape or not np.all(np.isfinite(s)) or np.any(s <= 0):
        raise FemeitError(f"std must hold {len(d)} positive finite values (one per datum), got shape {s.shape}")
    if m.ndim != 1 or not np.all(np.isfinite(m)):
        raise FemeitError(f"the starting model must be a finite 1-D array, got shape {m.shape}")
    n_par = len(m)
    ref = m.copy() if m_ref is None else np.asarray(m_ref, dtype=float)
    if ref.shape != (n_par,):
        raise FemeitError(f"the reference model must have {n_par} values, got shape {ref.shape}")
    if not sp.issparse(regulariser) or regulariser.shape[1] != n_par:
        raise FemeitError(
            f"the regulariser must be a sparse matrix with {n_par} columns, got {type(regulariser).__name__}"
        )
    if prior not in ("smooth", "tv"):
        raise FemeitError(f"prior must be 'smooth' or 'tv', got {prior!r}")
    if not (0 < cooling <= 1):
        raise FemeitError(f"cooling must be in (0, 1], got {cooling!r}")
    if not (max_iter >= 1 and max_raise >= 0 and target > 0 and tv_epsilon > 0 and damping >= 0):
        raise FemeitError("max_iter >= 1, max_raise >= 0, target > 0, tv_epsilon > 0 and damping >= 0 are required")
    if lam is not None and not (lam > 0 and math.isfinite(lam)):
        raise FemeitError(f"lambda must be positive and finite, got {lam!r}")
    lo, hi = -np.inf, np.inf
    if bounds is not None:
        if len(bounds) != 2 or not (0 < bounds[0] < bounds[1]):
            raise FemeitError(f"bounds must be (lower, upper) conductivities with 0 < lower < upper, got {bounds!r}")
        lo, hi = math.log(bounds[0]), math.log(bounds[1])
        m = np.clip(m, lo, hi)
    r_base = sp.csr_matrix(regulariser)
    weight = 1.0 / s
    n = len(d)
    n_forward = 0

    def misfit(model: np.ndarray) -> tuple[np.ndarray, float]:
        nonlocal n_forward
        n_forward += 1
        f = np.asarray(forward(model), dtype=float)
        if f.shape != d.shape or not np.all(np.isfinite(f)):
            raise FemeitError(f"the forward model returned shape {f.shape} or non-finite values; data {d.shape}")
        res = weight * (d - f)
        return f, float(res @ res)

    def roughness(rmat: sp.csr_matrix, model: np.ndarray) -> float:
        g = rmat @ (model - ref)
        return float(g @ g) + damping * float((model - ref) @ (model - ref))

    def step(lam, m, f, phi_d, rtr, rmat, jop, diag_j):
        """One line-searched Gauss-Newton step at lambda; None when nothing lowers Phi."""
        res = weight * (d - f)
        rhs = jop.rmatvec(weight * res) - lam * (rtr @ (m - ref))
        diag = diag_j + lam * rtr.diagonal()
        diag = np.where(diag > 0, diag, 1.0)
        normal = spla.LinearOperator(
            (n_par, n_par), matvec=lambda x: jop.rmatvec(weight**2 * jop.matvec(x)) + lam * (rtr @ x)
        )
        dm, _ = spla.cg(normal, rhs, rtol=cg_tol, maxiter=cg_maxiter, M=sp.diags(1.0 / diag))
        phi0 = phi_d + lam * roughness(rmat, m)
        slope = -2.0 * float(rhs @ dm)  # Phi'(0) along dm
        t = 1.0
        for attempt in range(5):
            trial = np.clip(m + t * dm, lo, hi)
            f_t, phid_t = misfit(trial)
            phi_t = phid_t + lam * roughness(rmat, trial)
            if phi_t < phi0:
                return trial, f_t, phid_t, phi_t, phi0, t
            if attempt == 0 and slope < 0:
                curv = phi_t - phi0 - slope  # parabola a t^2 + slope t + phi0 through Phi(1)
                t = float(np.clip(-slope / (2 * curv), 0.05, 0.5)) if curv > 0 else 0.5
            else:
                t *= 0.5
        return None

    f, phi_d = misfit(m)
    chi2 = [phi_d / n]
    images = [m.copy()]
    lambdas: list[float] = []
    steps: list[float] = []
    message = f"reached {max_iter} iterations"
    converged = chi2[0] <= target
    if converged:
        message = "the starting model already fits the data"
    for it in range(max_iter):
        if converged:
            break
        rmat = r_base
        if prior == "tv":
            g = r_base @ m
            rmat = sp.diags(np.sqrt(tv_epsilon / np.sqrt(g**2 + tv_epsilon**2))) @ r_base
        jac = jacobian(m)
        jop = _as_operator(jac)
        if jop.shape != (n, n_par):
            raise FemeitError(f"the Jacobian has shape {jop.shape}, expected ({n}, {n_par})")
        rtr = (rmat.T @ rmat).tocsr()
        if damping:
            rtr = rtr + damping * sp.identity(n_par, format="csr")
        diag_j = _diag_jtj(jac if not isinstance(jac, spla.LinearOperator) else jop, weight)
        if lam is None:
            lam = float(diag_j.sum() / max(rtr.diagonal().sum(), 1e-300))
        accepted = step(lam, m, f, phi_d, rtr, rmat, jop, diag_j)
        if accepted is not None and accepted[2] / n < target and max_raise > 0 and cooling < 1:
            # Overshot the discrepancy level: raise lambda while the step still fits (Occam's choice).
            for _ in range(max_raise):
                again = step(lam / cooling, m, f, phi_d, rtr, rmat, jop, diag_j)
                if again is None or again[2] / n > target:
                    break
                lam, accepted = lam / cooling, again
        lambdas.append(lam)
        if accepted is None:
            message = "the line search found no decrease of the objective"
            steps.append(0.0)
            break
        m, f, phi_d, phi_new, phi0, t = accepted
        steps.append(t)
        chi2.append(phi_d / n)
        images.append(m.copy())
        if callback is not None:
            callback(it + 1, m, chi2[-1], lam)
        if chi2[-1] <= target:
            converged = True
            message = f"chi^2 = {chi2[-1]:.3g} <= {target:g} after {it + 1} iterations"
            break
        if (phi0 - phi_new) < tolerance * phi0:
            message = f"the objective decreased by less than {tolerance:g} (relative)"
            break
        lam *= cooling
    return GaussNewtonResult(
        log_conductivity=m,
        chi2=np.array(chi2),
        lambdas=np.array(lambdas),
        images=images,
        step_lengths=np.array(steps),
        converged=converged,
        message=message,
        n_forward=n_forward,
        response=f,
    )


def invert_model(
    model,
    data: np.ndarray,
    std: np.ndarray | None = None,
    sigma0: float | np.ndarray = 1.0,
    regulariser: sp.spmatrix | None = None,
    *,
    noise=None,
    log_data: bool = False,
    matrix_free: bool = False,
    **options,
) -> GaussNewtonResult:
    """Gauss-Newton inversion with any femeit model that has ``simulate`` and ``jacobian``.

    Works with :class:`femeit.forward.ForwardModel` (2D and 3D EIT, one
    parameter per element) and :class:`femeit.ert.ERTModel` (2.5D ERT).

    Parameters
    ----------
    model : object
        ``model.simulate(sigma) -> (n_data,)`` and ``model.jacobian(sigma,
        log_conductivity=True) -> (n_data, n_params)``; with
        ``matrix_free=True`` also ``jvec``/``jtvec(sigma, v,
        log_conductivity=True)``.
    data : ndarray, shape (n_data,)
        Measured readings, V (ohm for unit currents).
    std : ndarray, shape (n_data,), optional
        Standard deviations of the readings (or give ``noise``).
    sigma0 : float or ndarray, shape (n_params,)
        Starting (and default reference) conductivity, S/m.
    regulariser : sparse matrix, optional
        Default: first differences across the mesh's faces
        (:func:`neighbour_operator` of ``model.mesh``).
    noise : femeit.noise_model.NoiseModel, optional
        Gives ``std = noise.std(data)`` when ``std`` is None.
    log_data : bool
        Fit ln|d| (all readings must share the sign of the starting model's
        response); std becomes std / |d|.  The usual choice for ERT.
    matrix_free : bool
        Use the model's jvec/jtvec instead of the dense Jacobian.
    **options
        Passed to :func:`gauss_newton`.

    Returns
    -------
    GaussNewtonResult
    """
    d = np.asarray(data, dtype=float)
    if std is None:
        if noise is None:
            raise FemeitError("give the data's standard deviations (std) or a noise model (noise)")
        std = noise.std(d)
    s = np.asarray(std, dtype=float)
    n_par = _n_params(model)
    m0 = np.log(np.broadcast_to(np.asarray(sigma0, dtype=float), (n_par,))).copy() if np.all(
        np.asarray(sigma0) > 0
    ) else None
    if m0 is None:
        raise FemeitError("the starting conductivity sigma0 must be positive")
    if regulariser is None:
        mesh = model.mesh
        skmesh = getattr(mesh, "mesh", mesh)
        regulariser = neighbour_operator(skmesh.p.T, skmesh.t.T)
    if log_data:
        v0 = np.asarray(model.simulate(np.exp(m0)))
        if d.shape != v0.shape:
            raise FemeitError(f"data have shape {d.shape}, the model gives {v0.shape}")
        sign = np.sign(v0)
        if np.any(d * sign <= 0):
            bad = np.flatnonzero(d * sign <= 0)
            raise FemeitError(
                f"readings {bad[:10].tolist()} are zero or have the opposite sign of the starting model's: "
                "they cannot be fitted in log(|d|); drop them or use log_data=False"
            )
        if s.shape != d.shape:
            raise FemeitError(f"std must have shape {d.shape}, got {s.shape}")

        def fwd(m):
            v = np.asarray(model.simulate(np.exp(m)))
            if np.any(v * sign <= 0):
                raise FemeitError("a trial model changed the sign of a reading; log data cannot follow it")
            return np.log(np.abs(v))

        def jac(m):
            v = np.asarray(model.simulate(np.exp(m)))
            if matrix_free:
                return _free(model, m, scale=1.0 / v)
            return model.jacobian(np.exp(m), log_conductivity=True) / v[:, None]

        return gauss_newton(fwd, jac, np.log(np.abs(d)), s / np.abs(d), m0, regulariser, **options)

    def jac_lin(m):
        if matrix_free:
            return _free(model, m, scale=None)
        return model.jacobian(np.exp(m), log_conductivity=True)

    return gauss_newton(lambda m: model.simulate(np.exp(m)), jac_lin, d, s, m0, regulariser, **options)


def _n_params(model) -> int:
    mesh = getattr(model, "mesh", None)
    if mesh is None:
        raise FemeitError(f"{type(model).__name__} has no mesh: it is not a femeit model")
    return int(mesh.n_elements)


def _free(model, m: np.ndarray, scale: np.ndarray | None) -> spla.LinearOperator:
    sigma = np.exp(m)
    n = len(model.simulate(sigma))
    sc = np.ones(n) if scale is None else scale

    def mv(v):
        return sc * model.jvec(sigma, np.ravel(v), log_conductivity=True)

    def rmv(y):
        return model.jtvec(sigma, sc * np.ravel(y), log_conductivity=True)

    return spla.LinearOperator((n, len(m)), matvec=mv, rmatvec=rmv)
