"""L1-regularised reconstruction by GPSR-BB, and its TSVD and Krylov projections.

Li et al., "A fast Barzilai-Borwein gradient projection for sparse
reconstruction algorithm based on 3D modeling: application to ERT imaging",
IEEE Access 9 (2021), doi:10.1109/ACCESS.2021.3127695, and the GPSR-BB method of
Figueiredo, Nowak & Wright, IEEE J. Sel. Topics Signal Process. 1 (2007).

Problem (eq. 6): ``min_x 1/2 ||S x - y||^2 + lam ||x||_1``.

* :func:`column_normalize` - the sensitivity normalisation of eq. 7.
* :func:`gpsr_bb` - the solver (eqs. 8-16) for any matrix A.
* :func:`gpsr` - GPSR-BB on S, ``lam = 0.01 ||S'y||_inf`` (Table 1).
* :func:`tgpsr` - TGPSR-BB: GPSR-BB on the rank-w TSVD of S, w = 50 (section III.C).
* :func:`kgpsr` - KGPSR-BB: eq. 22 on the Krylov projection of dimension
  k = 55, ``lam = ||S'y||_inf`` (section III.D, eqs. 17-22), with the L1 norm
  on the pixels as printed (:func:`pixel_l1_admm`) or, as an option, on the
  Krylov coefficients (GPSR-BB).

Stopping: by default the solvers run to a stated optimality test (the KKT
conditions of eq. 6 relative to lam, see :func:`gpsr_bb`); the paper's Step 4
with a loose tolerance (``stop="objective", tol=1e-2``, 6-15 iterations on
the paper's problem) is kept as a named option: it regularises by stopping
early.

The images these return are in the variables of the matrix they are given:
after :func:`column_normalize` that is the normalised image ``x_N = d * x``
(the paper's "image gray" of the normalised sensitivity); divide by ``d`` for
a conductivity change.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from femeit._checks import matrix_and_data
from femeit.errors import FemeitError
from femeit.inverse.krylov import golub_kahan

ALPHA_MIN, ALPHA_MAX = 1e-30, 1e30  # BB step bounds, paper section III.B after [27]


@dataclass(frozen=True)
class SparseResult:
    """An L1 reconstruction.

    Attributes
    ----------
    x : ndarray, shape (n,)
        The image (in the variables of the matrix solved for).
    lam : float
        The regularisation parameter used.
    iterations : int
        GPSR-BB (or TwIST) iterations.
    objective : ndarray, shape (iterations + 1,)
        Objective after each iteration, starting with the initial point.
    converged : bool
        The stopping test was met before ``max_iter``.
    extra : dict
        Method-specific data (e.g. the Krylov coefficients ``g``).
    """

    x: np.ndarray
    lam: float
    iterations: int
    objective: np.ndarray
    converged: bool
    extra: dict = field(default_factory=dict)


def _check(A: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return matrix_and_data(A, y)


def column_normalize(jac: np.ndarray, mode: str = "abs") -> tuple[np.ndarray, np.ndarray]:
    """Normalise each column of the sensitivity by its sum over the readings (eq. 7).

    ``S_N[:, j] = S[:, j] / d_j`` so that ``S x = S_N x_N`` with ``x_N = d * x``.

    Parameters
    ----------
    jac : ndarray, shape (m, n)
    mode : {"abs", "signed"}
        ``"abs"`` (default, our choice): ``d_j = sum_i |S_ij|``.  Eq. 7 as
        printed sums the signed entries, ``d_j = sum_i S_ij``; with an adjacent
        protocol the rows of one column have both signs and the signed sum can
        be near zero or change sign from pixel to pixel, which would blow
        columns up or flip them.  ``"signed"`` follows eq. 7 literally but
        refuses (FemeitError) unless every column sum has the same sign and at
        least 1e-3 of the column's absolute sum.

    Returns
    -------
    S_N : ndarray, shape (m, n)
    d : ndarray, shape (n,)
        The divisors (positive in ``"abs"`` mode).
    """
    S = np.asarray(jac, dtype=float)
    if S.ndim != 2 or min(S.shape) == 0 or not np.all(np.isfinite(S)):
        raise FemeitError(f"the sensitivity must be a finite 2D matrix, got shape {S.shape}")
    absolute = np.abs(S).sum(axis=0)
    if np.any(absolute == 0):
        raise FemeitError(f"{int(np.sum(absolute == 0))} columns of the sensitivity are zero; drop those parameters")
    if mode == "abs":
        d = absolute
    elif mode == "signed":
        d = S.sum(axis=0)
        if not (np.all(d > 1e-3 * absolute) or np.all(d < -1e-3 * absolute)):
            bad = int(np.sum(np.abs(d) <= 1e-3 * absolute)) + int(min(np.sum(d > 0), np.sum(d < 0)))
            raise FemeitError(
                "the signed column sums of eq. 7 change sign or nearly vanish "
                f"({bad} columns); use mode='abs' (sums of |S_ij|)"
            )
    else:
        raise FemeitError(f"mode must be 'abs' or 'signed', got {mode!r}")
    return S / d, d


def objective(A: np.ndarray, y: np.ndarray, x: np.ndarray, lam: float) -> float:
    """``1/2 ||A x - y||^2 + lam ||x||_1`` (eq. 6)."""
    r = A @ x - y
    return float(0.5 * r @ r + lam * np.abs(x).sum())


def kkt_residual(A: np.ndarray, y: np.ndarray, x: np.ndarray, lam: float) -> float:
    """Largest violation of the optimality conditions of eq. 6 at x, relative to lam.

    With ``g = A'(A x - y)``: ``g_i = -lam sign(x_i)`` where ``x_i != 0`` and
    ``|g_i| <= lam`` where ``x_i = 0``.  Returns ``max_i violation_i / lam``.
    """
    return _kkt(np.asarray(x, float), A.T @ (A @ x - y), lam)


def gpsr_bb(
    A: np.ndarray,
    y: np.ndarray,
    lam: float,
    *,
    stop: str = "kkt",
    tol: float | None = None,
    max_iter: int = 10_000,
    min_iter: int = 5,
    x0: np.ndarray | None = None,
    offset: float = 0.0,
) -> SparseResult:
    """GPSR-BB (monotone) for ``min_x 1/2 ||A x - y||^2 + lam ||x||_1`` (eqs. 8-16).

    The split ``x = p - q``, ``p, q >= 0`` (eq. 8) turns eq. 6 into the
    bound-constrained QP ``min c'z + 1/2 z'Bz, z >= 0`` (eqs. 9-10) with
    ``z = [p; q]``.  Each iteration: projected BB step
    ``delta = (z - alpha grad F)_+ - z`` (eq. 15); exact line search
    ``eta = min(1, -grad F'delta / delta'B delta)`` in [0, 1] (the objective is
    quadratic along delta, Step 2); BB update
    ``alpha = mid(alpha_min, ||delta||^2 / delta'B delta, alpha_max)`` with
    ``alpha = alpha_max`` when ``delta'B delta = 0`` (eq. 16, bounds 1e-30 and
    1e30); stop by the test ``stop`` (below).  Since delta is a descent
    direction and eta minimises F along it, F never increases.

    ``delta'B delta = ||A (delta_p - delta_q)||^2``, so B is never formed: one
    product with A and one with A' per iteration.

    Parameters
    ----------
    A : ndarray, shape (m, n)
    y : ndarray, shape (m,)
    lam : float
        Regularisation parameter (> 0).
    stop : {"kkt", "lcp", "objective"}
        The stopping test.  The paper's Step 4 (``|F_{t+1} - F_t| / F_t <=
        tolP``) gives no tolP; its per-frame times imply hundreds to thousands
        of iterations, i.e. a solution of eq. 6, so the default is a test of
        optimality:

        * ``"kkt"`` (default): the optimality conditions of eq. 6 relative to
          lam, :func:`kkt_residual` ``<= tol`` (default tol 1e-2): every
          ``|g_i + lam sign(x_i)|`` (x_i != 0) and every ``max(|g_i| - lam, 0)``
          (x_i = 0) below 1e-2 lam, g the gradient of the quadratic.  Scale
          free, zero exactly at a minimiser.  On the paper's cylinder (812
          px) it takes 4,000-6,500 iterations, within the paper's limit of
          1e4, and leaves the objective within about 1e-4 (relative) of its
          minimum; 1e-3 would need 30,000-50,000.
        * ``"lcp"``: the complementarity (LCP) residual of the bound-constrained
          QP, ``||min(z, grad F(z))||_inf / max(||z||_inf, 1e-300) <= tol``
          (default tol 1e-2), the test Figueiredo, Nowak & Wright (2007,
          section II.F) recommend and their reference code uses by default.
          Its numerator is in units of the gradient and its denominator in
          units of z, so its meaning depends on the scaling of A: on the
          paper's column-normalised cylinder it stops after 14-22 iterations,
          as early as ``"objective"``.
        * ``"objective"``: Step 4 as printed, the relative change of F
          ``<= tol`` (default tol 1e-2, the early-stopped variant femeit used
          before; it stops after 6-15 iterations on the paper's problem and
          then regularises by early stopping).
    tol : float, optional
        Tolerance of the test (defaults above).
    max_iter, min_iter : int
        At most 1e4 iterations (paper); at least 5 (GPSR code's default).
    x0 : ndarray, shape (n,), optional
        Start (default zeros; p = max(x0, 0), q = max(-x0, 0)).
    offset : float
        A constant added to F for the stopping test, for reduced problems whose
        objective differs from the original one by a constant (TGPSR-BB).

    Returns
    -------
    SparseResult
        ``objective`` holds F (with the offset) after every iteration.

    Notes
    -----
    The first alpha (Step 0; the paper leaves it open) is the Cauchy step
    ``||d||^2 / d'B d`` of the projected gradient d at z0, as in GPSR's basic
    variant.
    """
    A, y = _check(A, y)
    if not (np.isfinite(lam) and lam > 0):
        raise FemeitError(f"lam must be a positive number, got {lam}")
    tol = _stop_tolerance(stop, tol)
    if not (max_iter >= 1 and 0 <= min_iter <= max_iter and tol >= 0):
        raise FemeitError(f"need tol >= 0 and 0 <= min_iter <= max_iter >= 1, got {tol}, {min_iter}, {max_iter}")
    n = A.shape[1]
    if x0 is None:
        p, q = np.zeros(n), np.zeros(n)
    else:
        x0 = np.asarray(x0, dtype=float)
        if x0.shape != (n,):
            raise FemeitError(f"x0 must have shape ({n},), got {x0.shape}")
        p, q = np.maximum(x0, 0.0), np.maximum(-x0, 0.0)
    r = A @ (p - q) - y  # residual A x - y
    g = A.T @ r  # gradient of the quadratic in x
    F = 0.5 * r @ r + lam * (p.sum() + q.sum()) + offset
    history = [F]
    # Step 0: alpha from the Cauchy step of the projected gradient.
    gp, gq = lam + g, lam - g
    dp = np.where((p > 0) | (gp < 0), -gp, 0.0)
    dq = np.where((q > 0) | (gq < 0), -gq, 0.0)
    Ad = A @ (dp - dq)
    den = Ad @ Ad
    alpha = float(np.clip((dp @ dp + dq @ dq) / den, ALPHA_MIN, ALPHA_MAX)) if den > 0 else 1.0
    converged = False
    it = 0
    for it in range(1, max_iter + 1):
        gp, gq = lam + g, lam - g
        dp = np.maximum(p - alpha * gp, 0.0) - p  # eq. 15
        dq = np.maximum(q - alpha * gq, 0.0) - q
        slope = gp @ dp + gq @ dq
        if slope >= 0:  # no descent direction: z is stationary
            converged = True
            it -= 1
            break
        Ad = A @ (dp - dq)
        gamma = Ad @ Ad  # eq. 16
        eta = 1.0 if gamma <= 0 else min(1.0, -slope / gamma)
        p += eta * dp
        q += eta * dq
        r += eta * Ad
        g = A.T @ r
        F_new = 0.5 * r @ r + lam * (p.sum() + q.sum()) + offset
        history.append(F_new)
        alpha = ALPHA_MAX if gamma <= 0 else float(np.clip((dp @ dp + dq @ dq) / gamma, ALPHA_MIN, ALPHA_MAX))
        if stop == "objective":
            measure = abs(F_new - F) / abs(F) if F != 0 else abs(F_new - F)
        elif stop == "kkt":
            measure = _kkt(p - q, g, lam)
        else:
            measure = _lcp(p, q, g, lam)
        F = F_new
        if it >= min_iter and measure <= tol:
            converged = True
            break
    return SparseResult(p - q, float(lam), it, np.asarray(history), converged, {"stop": stop, "tol": tol})


STOP_TOLERANCE = {"kkt": 1e-2, "lcp": 1e-2, "objective": 1e-2}


def _stop_tolerance(stop: str, tol: float | None) -> float:
    if stop not in STOP_TOLERANCE:
        raise FemeitError(f"stop must be one of {sorted(STOP_TOLERANCE)}, got {stop!r}")
    if tol is None:
        return STOP_TOLERANCE[stop]
    if not (isinstance(tol, int | float | np.floating) and np.isfinite(tol) and tol >= 0):
        raise FemeitError(f"tol must be a non-negative number, got {tol!r}")
    return float(tol)


def _kkt(x: np.ndarray, g: np.ndarray, lam: float) -> float:
    """Largest violation of eq. 6's optimality conditions, relative to lam (g = A'(A x - y))."""
    viol = np.where(x > 0, np.abs(g + lam), np.where(x < 0, np.abs(g - lam), np.maximum(np.abs(g) - lam, 0.0)))
    return float(viol.max() / lam) if viol.size else 0.0


def _lcp(p: np.ndarray, q: np.ndarray, g: np.ndarray, lam: float) -> float:
    """Relative complementarity residual ``||min(z, grad F)||_inf / ||z||_inf`` of the QP (eqs. 9-10)."""
    w = max(np.abs(np.minimum(p, lam + g)).max(), np.abs(np.minimum(q, lam - g)).max())
    return float(w / max(p.max(), q.max(), 1e-300))


def _lam_max(S: np.ndarray, y: np.ndarray) -> float:
    value = float(np.abs(S.T @ y).max())
    if value == 0:
        raise FemeitError("S'y is zero: the data carry no information on the image (lam would be 0)")
    return value


def gpsr(
    jac: np.ndarray, data: np.ndarray, lam: float | None = None, *, lam_factor: float = 0.01, **kw
) -> SparseResult:
    """GPSR-BB on the full sensitivity (section III.B).

    Parameters
    ----------
    jac : ndarray, shape (m, n)
        Sensitivity S, normally already normalised by :func:`column_normalize`.
    data : ndarray, shape (m,)
        Data y (voltage changes).
    lam : float, optional
        Default ``lam_factor * ||S'y||_inf`` with the paper's factor 0.01 (Table 1).
    **kw
        Passed to :func:`gpsr_bb` (tol, max_iter, ...).
    """
    S, y = _check(jac, data)
    lam = lam_factor * _lam_max(S, y) if lam is None else lam
    return gpsr_bb(S, y, lam, **kw)


def truncated_svd(jac: np.ndarray, rank: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The rank-w factors ``(U_w (m, w), s_w (w,), V_w' (w, n))`` of S, for :func:`tgpsr`."""
    S = np.asarray(jac, dtype=float)
    if not (isinstance(rank, int | np.integer) and 1 <= rank <= min(S.shape)):
        raise FemeitError(f"rank must be an integer in 1..{min(S.shape)}, got {rank!r}")
    u, s, vt = np.linalg.svd(S, full_matrices=False)
    return u[:, :rank], s[:rank], vt[:rank]


def tgpsr(
    jac: np.ndarray,
    data: np.ndarray,
    rank: int = 50,
    lam: float | None = None,
    *,
    lam_factor: float = 0.01,
    svd: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    **kw,
) -> SparseResult:
    """TGPSR-BB: GPSR-BB on the rank-w truncated SVD ``S_w = U_w Lambda_w V_w'`` (section III.C).

    ``1/2 ||S_w x - y||^2 = 1/2 ||Lambda_w V_w' x - U_w' y||^2 + 1/2 ||(I - U_w U_w') y||^2``,
    so GPSR-BB runs on the (w, n) matrix ``Lambda_w V_w'`` with data ``U_w' y``
    and the constant passed as ``offset``: the iterates and the objective are
    those of the paper's ``min 1/2 ||S_new x - y||^2 + lam ||x||_1``, at w / m
    of the cost per matrix product.

    Parameters
    ----------
    jac : ndarray, shape (m, n)
        (Normalised) sensitivity S.
    rank : int
        w, the paper's 50.
    lam : float, optional
        Default ``0.01 ||S'y||_inf`` (Table 1; S the full matrix).
    svd : (U_w, s_w, V_w'), optional
        Precomputed :func:`truncated_svd` of S (compute once per Jacobian).
    """
    S, y = _check(jac, data)
    if svd is None:
        svd = truncated_svd(S, rank)
    u, s, vt = svd
    if u.shape[1] != rank:
        raise FemeitError(f"the precomputed SVD has rank {u.shape[1]}, expected {rank}")
    lam = lam_factor * _lam_max(S, y) if lam is None else lam
    beta = u.T @ y
    offset = 0.5 * max(float(y @ y - beta @ beta), 0.0)
    result = gpsr_bb(s[:, None] * vt, beta, lam, offset=offset, **kw)
    return SparseResult(result.x, result.lam, result.iterations, result.objective, result.converged, {"rank": rank})


def kgpsr(
    jac: np.ndarray,
    data: np.ndarray,
    k: int = 55,
    lam: float | None = None,
    *,
    penalty: str = "pixel",
    svd: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    noise_norm: float | None = None,
    **kw,
) -> SparseResult:
    """KGPSR-BB: the L1 problem of eq. 22 in the Krylov subspace K_k(S'S, S'y) (section III.D, eqs. 17-22).

    Step 1 projects by Golub-Kahan-Lanczos bidiagonalisation
    (:func:`femeit.inverse.krylov.golub_kahan`, full reorthogonalisation):
    ``S V_k = U_{k+1} B_k`` (eq. 18) with ``U_{k+1}' y = ||y|| e_1``, so for
    ``x = V_k g``: ``||S x - y|| = ||B_k g - ||y|| e_1||`` (eq. 21).  Step 2
    solves eq. 22 for g; Step 3 returns ``x = V_k g`` (eq. 20).

    Eq. 22 is printed ``min_g ||B_k g - ||y|| e_1||^2 + lam ||V_k g||_1``,
    without the 1/2 of eq. 6; solved as printed it is
    ``2 * (1/2 ||B_k g - ||y|| e_1||^2 + tau ||.||_1)`` with ``tau = lam / 2``
    in both readings below.

    * ``penalty="pixel"`` (default, eq. 22 as printed): the L1 norm of the
      image ``x = V_k g`` in the pixels.  It is not separable in g, so GPSR-BB's
      split (eq. 8) does not apply directly; the paper does not say how it
      solved it.  We use ADMM (Boyd et al., Found. Trends Mach. Learn. 3, 2011,
      section 6.4) on ``min 1/2 ||B_k g - b||^2 + tau ||z||_1`` subject to
      ``V_k g = z``: since ``V_k' V_k = I`` the g-step solves
      ``(B_k'B_k + rho I) g = B_k'b + rho V_k'(z - u)`` (one k x k
      eigendecomposition per frame), the z-step is a soft threshold at
      tau / rho, and rho is balanced between the primal and dual residuals
      (Boyd et al. eq. 3.13, mu = 10, factor 2).  Stop when both residuals
      fall below ``tol`` (default 1e-4) relative to ``max(||V_k g||, ||z||)``
      and ``||rho u||`` (their eq. 3.12 without the absolute term), at most
      ``max_iter`` (10,000) iterations.
    * ``penalty="coefficients"`` (femeit's former reading, kept as an option):
      the L1 norm on the Krylov coefficients g, solved by GPSR-BB on the
      (k+1, k) problem.  This is sparsity of the image in the orthonormal
      basis V_k, not in the pixels.  g satisfies the KKT conditions of that
      problem (tested).

    Why femeit once rejected the pixel reading, and why that was wrong: it
    argued that ``min_x 1/2 ||U B V' x - y||^2 + tau ||x||_1`` has x = 0 for
    every ``tau >= ||S'y||_inf`` and hence for the paper's lam, which takes
    ``tau = lam``; with eq. 22's ``tau = lam / 2`` (the same halving the
    coefficient reading uses) that bound is not reached (tested).  Eq. 22
    itself (x restricted to ``V_k g``) has x = 0 exactly for
    ``tau >= tau* = ||S'y||_2^2 / min_h ||S'y - V_{2..k} h||_1``, which is at
    most ``||S'y||_inf`` (tested against a linear program); whether the
    paper's ``tau = ||S'y||_inf / 2`` lies below tau* depends on the problem.
    On the paper's cylinder it does (``validation/kgpsr3d.py`` reports the
    images); on a random incoherent matrix it need not.

    Parameters
    ----------
    jac : ndarray, shape (m, n)
        (Normalised) sensitivity S.
    data : ndarray, shape (m,)
    k : int
        Krylov dimension (paper: 55).
    lam : float, optional
        Default ``||S'y||_inf`` (Table 1, S the full matrix).
    penalty : {"pixel", "coefficients"}
        Where the L1 norm acts (above).
    svd : (U_r, s_r, V_r'), optional
        The thin SVD of S (all non-zero singular values, computed once per
        Jacobian, e.g. ``np.linalg.svd(S, full_matrices=False)``).  Then the
        bidiagonalisation runs on diag(s_r) started from ``U_r' y``, in O(r k^2)
        per frame instead of O(m n k): in exact arithmetic the Krylov bases are
        ``V_k = V_r V^_k`` (the Lanczos vectors are fixed, up to sign, by the
        nested Krylov spaces) and ``||S V_k g - y||^2`` differs from the
        small problem's residual by the constant ``||(I - U_r U_r') y||^2``,
        which is added to the objective; the result is the same x (tested).
    noise_norm : float, optional
        Not in the paper (femeit's option): the expected norm of the data
        error, ``||e||`` (e.g. sigma sqrt(m) for white noise of deviation
        sigma).  Then lam is chosen by Morozov's discrepancy principle instead
        of Table 1's rule: the largest lam with ``||S x_lam - y|| <= noise_norm``,
        by bisection in log lam (40 steps) on the k-dimensional problem.  If
        even lam -> 0 leaves a larger residual, the smallest lam tried (1e-8 of
        the largest useful) is used.
    **kw
        ``penalty="coefficients"``: passed to :func:`gpsr_bb` (stop, tol,
        max_iter, ...).  ``penalty="pixel"``: ``tol`` and ``max_iter`` of ADMM.

    Returns
    -------
    SparseResult
        ``lam`` is eq. 22's lam; ``objective`` is the halved eq. 22 (with
        tau = lam / 2, plus the offset) after every iteration; ``extra``: ``g``
        (k,), ``tau``, ``k`` (reached), ``penalty``, ``V`` (n, k) the basis
        (None for the coefficient reading with ``svd``), and for the pixel
        reading ``z`` (the exactly sparse ADMM copy of x) and ``dual`` (n,),
        the multiplier w with ``B'(B g - b) + tau V'w = 0``, ``|w_i| <= 1``.
    """
    S, y = _check(jac, data)
    if penalty not in ("pixel", "coefficients"):
        raise FemeitError(f"penalty must be 'pixel' or 'coefficients', got {penalty!r}")
    lam = _lam_max(S, y) if lam is None else lam
    if not (np.isfinite(lam) and lam > 0):
        raise FemeitError(f"lam must be a positive number, got {lam}")
    if svd is None:
        bd = golub_kahan(S, y, k)
        offset = 0.0
    else:
        u, s, vt = svd
        if u.shape[0] != S.shape[0] or vt.shape[1] != S.shape[1] or not (u.shape[1] == len(s) == vt.shape[0]):
            raise FemeitError(f"the SVD factors do not match a matrix of shape {S.shape}")
        if not 1 <= k <= len(s):
            raise FemeitError(f"the Krylov dimension k must lie in 1..{len(s)}, got {k}")
        y_hat = u.T @ y
        offset = 0.5 * max(float(y @ y - y_hat @ y_hat), 0.0)
        bd = golub_kahan(s, y_hat, k, diagonal=True)
    rhs = np.zeros(bd.B.shape[0])
    rhs[0] = bd.beta1
    if penalty == "pixel":
        basis = bd.V if svd is None else vt.T @ bd.V

        def step2(tau: float) -> SparseResult:
            return pixel_l1_admm(bd.B, rhs, basis, tau, offset=offset, **kw)

    else:
        basis = bd.V if svd is None else None

        def step2(tau: float) -> SparseResult:
            return gpsr_bb(bd.B, rhs, tau, offset=offset, **kw)

    if noise_norm is not None:
        lam = _discrepancy_lambda(bd.B, rhs, offset, noise_norm, step2)
    result = step2(lam / 2)
    g = result.extra["g"] if penalty == "pixel" else result.x
    x = bd.V @ g if svd is None else vt.T @ (bd.V @ g)
    extra = {"g": g, "tau": lam / 2, "k": bd.k, "V": basis, "penalty": penalty}
    if penalty == "pixel":
        extra |= {"z": result.x, "dual": result.extra["dual"], "rho": result.extra["rho"]}
    return SparseResult(x, float(lam), result.iterations, result.objective, result.converged, extra)


def pixel_l1_admm(
    B: np.ndarray,
    b: np.ndarray,
    V: np.ndarray,
    tau: float,
    *,
    tol: float = 1e-4,
    max_iter: int = 10_000,
    rho: float | None = None,
    offset: float = 0.0,
) -> SparseResult:
    """ADMM for ``min_g 1/2 ||B g - b||^2 + tau ||V g||_1`` with orthonormal columns V (eq. 22).

    Parameters
    ----------
    B : ndarray, shape (p, k)
    b : ndarray, shape (p,)
    V : ndarray, shape (n, k)
        Orthonormal columns (``V'V = I``, not checked beyond the shapes).
    tau : float
        L1 weight (> 0).
    tol : float
        Relative primal and dual residual tolerance (Boyd et al. 2011, eq. 3.12),
        relative to ``max(||V g||, ||z||, 1e-3 ||B'b|| / ||B||^2)`` and
        ``max(||rho V'u||, 1e-3 ||B'b||)`` (the floors let a zero solution stop).
    max_iter : int
    rho : float, optional
        Initial penalty; default the mean eigenvalue of B'B.  Balanced during
        the iteration (mu = 10, factor 2).
    offset : float
        Constant added to the reported objective.

    Returns
    -------
    SparseResult
        ``x`` is z, the sparse copy of ``V g`` (n,); ``extra``: ``g`` (k,),
        ``dual`` (n,) the scaled multiplier ``w = rho u / tau`` (optimality:
        ``B'(B g - b) + tau V'w = 0`` and ``|w| <= 1``, with ``w_i = sign(z_i)``
        where z_i != 0), ``rho`` the final penalty.
    """
    B = np.asarray(B, float)
    V = np.asarray(V, float)
    b = np.asarray(b, float)
    if B.ndim != 2 or V.ndim != 2 or V.shape[1] != B.shape[1] or b.shape != (B.shape[0],):
        raise FemeitError(f"shapes do not match: B {B.shape}, b {b.shape}, V {V.shape}")
    if not (np.isfinite(tau) and tau > 0):
        raise FemeitError(f"tau must be a positive number, got {tau}")
    if not (np.isfinite(tol) and tol >= 0 and max_iter >= 1):
        raise FemeitError(f"need tol >= 0 and max_iter >= 1, got {tol}, {max_iter}")
    evals, Q = np.linalg.eigh(B.T @ B)
    evals = np.maximum(evals, 0.0)
    Btb = B.T @ b
    rho = float(evals.mean()) if rho is None else float(rho)
    if not (np.isfinite(rho) and rho > 0):
        rho = 1.0
    n = V.shape[0]
    # Size of a one-step (Landweber) image, ||B'b|| / ||B||^2.
    x_scale = float(np.linalg.norm(Btb)) / max(float(evals.max()), 1e-300)
    z = np.zeros(n)
    u = np.zeros(n)  # scaled multiplier
    g = np.zeros(B.shape[1])
    # The k-dimensional images V'z and V'u are carried along, so an iteration
    # costs two products with V (x = V g and V'z) instead of four:
    # V'u grows by V'(x - z) = g - V'z since V'V = I.
    # (B'B + rho I)^-1 as a k x k matrix, formed again only when rho changes.
    inverse, inverse_rho = None, None
    vtz, vtu = np.zeros(B.shape[1]), np.zeros(B.shape[1])
    # Work arrays of length n, reused by every iteration (the loop runs some
    # hundred times per frame on ~1000 pixels, where allocation and the
    # wrappers of norm / clip cost as much as the arithmetic); each value is
    # computed by the same operations as the plain formulas in the comments.
    x, v, work = np.empty(n), np.empty(n), np.empty(n)
    dual_floor = 1e-3 * float(np.linalg.norm(Btb))
    floor_pri = 1e-3 * x_scale
    # The objective's data term 1/2 ||B g - b||^2 needs only g: the iterates g
    # are kept and the term is evaluated for all of them after the loop, in
    # one matrix product; the L1 term needs x and is taken as x is formed.
    gs, l1 = [], []
    converged = False
    it = 0
    while it < max_iter:
        it += 1
        if rho != inverse_rho:
            inverse, inverse_rho = (Q / (evals + rho)) @ Q.T, rho
        g = inverse @ (Btb + rho * (vtz - vtu))
        gs.append(g)
        np.dot(V, g, out=x)  # x = V g
        vtz_old = vtz
        np.add(x, u, out=v)
        # z = v - clip(v, -tau / rho, tau / rho): the soft threshold at tau / rho
        t = tau / rho
        np.maximum(v, -t, out=work)
        np.minimum(work, t, out=work)
        np.subtract(v, work, out=z)
        np.subtract(v, z, out=u)  # u = v - z
        vtz = V.T @ z
        np.add(vtu, g, out=vtu)  # vtu = vtu + g - vtz
        np.subtract(vtu, vtz, out=vtu)
        l1.append(float(np.add.reduce(np.abs(x, out=work))))  # ||x||_1, the same sum as .sum()
        np.subtract(x, z, out=work)
        r_pri = math.sqrt(work @ work)  # ||x - z||
        d = vtz - vtz_old
        r_dual = rho * math.sqrt(d @ d)
        # Stop when both residuals are small (the primal scale, two n-vector
        # norms, is needed only once the dual test passes).  Floors 1e-3 of the
        # data's scale, so that a zero solution also stops.
        if r_dual <= tol * max(rho * math.sqrt(vtu @ vtu), dual_floor):
            if r_pri <= tol * max(math.sqrt(x @ x), math.sqrt(z @ z), floor_pri):
                converged = True
                break
        if r_pri > 10 * r_dual:
            rho *= 2.0
            u /= 2.0
            vtu /= 2.0
        elif r_dual > 10 * r_pri:
            rho /= 2.0
            u *= 2.0
            vtu *= 2.0
    residuals = np.array(gs) @ B.T - b
    data_term = 0.5 * np.einsum("ij,ij->i", residuals, residuals)
    history = np.concatenate([[0.5 * float(b @ b)], data_term + tau * np.array(l1)]) + offset
    extra = {"g": g, "dual": rho * u / tau, "rho": rho}
    return SparseResult(z, float(tau), it, history, converged, extra)


def soft(x: np.ndarray, t: float) -> np.ndarray:
    """Soft threshold ``sign(x) max(|x| - t, 0)``."""
    return np.sign(x) * np.maximum(np.abs(x) - t, 0.0)


def _discrepancy_lambda(B: np.ndarray, rhs: np.ndarray, offset: float, noise_norm: float, step2) -> float:
    """Largest eq.-22 lam whose KGPSR residual ||S x - y|| stays within noise_norm (bisection in log lam)."""
    if not (np.isfinite(noise_norm) and noise_norm > 0):
        raise FemeitError(f"noise_norm must be a positive number, got {noise_norm}")
    target = noise_norm**2

    def residual2(lam: float) -> float:
        result = step2(lam / 2)
        g = result.extra.get("g", result.x)
        r = B @ g - rhs
        return float(r @ r + 2 * offset)

    # Above tau = ||B'rhs||_2 (>= the bound of either reading) the solution is 0.
    top = 2 * float(np.linalg.norm(B.T @ rhs))
    lo, hi = np.log(top * 1e-8), np.log(top)
    if residual2(top) <= target:
        return top
    if residual2(np.exp(lo)) > target:
        return float(np.exp(lo))
    for _ in range(40):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if residual2(np.exp(mid)) <= target else (lo, mid)
    return float(np.exp(lo))
