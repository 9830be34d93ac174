"""TwIST, two-step iterative shrinkage/thresholding (a comparator of the KGPSR-BB paper).

Bioucas-Dias & Figueiredo, "A new TwIST: two-step iterative
shrinkage/thresholding algorithms for image restoration", IEEE Trans. Image
Process. 16 (2007), for ``min_x 1/2 ||A x - y||^2 + lam ||x||_1``; the KGPSR-BB
paper (Li et al., IEEE Access 9, 2021, doi:10.1109/ACCESS.2021.3127695, Table 1) uses lam = 1e-9.
"""

from __future__ import annotations

import numpy as np

from femeit._checks import matrix_and_data
from femeit.errors import FemeitError
from femeit.inverse.gpsr import SparseResult


def soft_threshold(x: np.ndarray, tau: float) -> np.ndarray:
    """``sign(x) max(|x| - tau, 0)``, the proximal map of ``tau ||x||_1``."""
    return np.sign(x) * np.maximum(np.abs(x) - tau, 0.0)


def twist(
    jac: np.ndarray,
    data: np.ndarray,
    lam: float = 1e-9,
    *,
    lam1: float = 1e-4,
    stop: str = "residual",
    tol: float | None = None,
    max_iter: int = 10_000,
    min_iter: int = 5,
    lipschitz: float | None = None,
    monotone: bool = True,
) -> SparseResult:
    """TwIST (Bioucas-Dias & Figueiredo 2007, eqs. 15-16 and 24-27 there).

    With ``L = ||A||_2^2`` and the IST map
    ``Gamma(x) = Psi(x + A'(y - A x) / L)``, Psi the soft threshold at lam / L,
    the iteration is

        ``x_{t+1} = (1 - a) x_{t-1} + (a - b) x_t + b Gamma(x_t)``,

    with ``rho = (1 - lam1) / (1 + lam1)``, ``a = 2 / (1 + sqrt(1 - rho^2))``,
    ``b = 2 a / (1 + lam1)`` (their optimal parameters for the spectrum of
    ``A'A / L`` in [lam1, 1]; lam1 = 1e-4 is their default for ill-conditioned A).
    The first step is one IST step from x = 0.

    Choices (the KGPSR-BB paper gives only lam): enforce monotonicity, as the
    authors' reference code does: a TwIST step that would raise the objective
    is replaced by the IST step Gamma(x_t), which cannot raise it (step 1 / L);
    at most 10,000 iterations (the KGPSR-BB paper's limit for GPSR-BB), at
    least ``min_iter = 5``.  The stopping test ``stop``:

    * ``"residual"`` (default): the relative fixed-point residual of the IST
      map, ``||x_t - Gamma(x_t)||_2 / ||x_t||_2 <= tol`` (default 1e-5).  It
      is zero exactly at a minimiser (the optimality condition of the
      problem, written as a fixed point), so the default asks for a solution
      of the problem.  The residual measures one step of length 1 / L, so a
      loose tolerance stops early on ill-conditioned problems: on the KGPSR-BB
      paper's cylinder 1e-3 stops after about 40 iterations, 1e-5 after about
      630, where the image no longer changes (the same CC as a relative
      objective change of 1e-6 after 9,500 iterations).  With the paper's
      lam = 1e-9 the problem is nearly unregularised, and its solution is
      noise.
    * ``"objective"``: the relative change of the objective ``<= tol``
      (default 1e-2), the authors' code's default test and femeit's former
      default; with lam = 1e-9 it stops after a few iterations and the
      early stop is what regularises.

    Parameters
    ----------
    jac : ndarray, shape (m, n)
    data : ndarray, shape (m,)
    lam : float
        Regularisation parameter (>= 0).
    stop : {"residual", "objective"}
        Stopping test (above).
    tol : float, optional
        Its tolerance (default 1e-5 for "residual", 1e-2 for "objective").
    lipschitz : float, optional
        ``||A||_2^2`` if known (computed once per Jacobian saves an SVD per frame).

    Returns
    -------
    SparseResult
        ``extra``: ``lipschitz``, ``stop``, ``tol``.
    """
    A, y = matrix_and_data(jac, data)
    if not (np.isfinite(lam) and lam >= 0):
        raise FemeitError(f"lam must be a non-negative number, got {lam}")
    if stop not in ("residual", "objective"):
        raise FemeitError(f"stop must be 'residual' or 'objective', got {stop!r}")
    tol = (1e-5 if stop == "residual" else 1e-2) if tol is None else tol
    if not (isinstance(tol, int | float | np.floating) and np.isfinite(tol) and tol >= 0):
        raise FemeitError(f"tol must be a non-negative number, got {tol!r}")
    if not (max_iter >= 1 and 0 <= min_iter <= max_iter):
        raise FemeitError(f"need 0 <= min_iter <= max_iter >= 1, got {min_iter}, {max_iter}")
    if not 0 < lam1 < 1:
        raise FemeitError(f"lam1 must lie in (0, 1), got {lam1}")
    L = float(np.linalg.norm(A, 2) ** 2) if lipschitz is None else float(lipschitz)
    if not L > 0:
        raise FemeitError("the matrix is zero")
    rho = (1 - lam1) / (1 + lam1)
    a = 2 / (1 + np.sqrt(1 - rho**2))
    b = 2 * a / (1 + lam1)
    tau = lam / L

    def f(x: np.ndarray, r: np.ndarray) -> float:
        return float(0.5 * r @ r + lam * np.abs(x).sum())

    def ist(x: np.ndarray, r: np.ndarray) -> np.ndarray:
        return soft_threshold(x - (A.T @ r) / L, tau)

    x_prev = np.zeros(A.shape[1])
    r_prev = -y
    F = f(x_prev, r_prev)
    x = ist(x_prev, r_prev)
    r = A @ x - y
    history = [F, f(x, r)]
    F = history[-1]
    converged = False
    it = 1
    while it < max_iter:
        gx = ist(x, r)
        if stop == "residual" and it >= min_iter:
            size = np.linalg.norm(x)
            if np.linalg.norm(x - gx) <= tol * size:
                converged = True
                break
        it += 1
        x_new = (1 - a) * x_prev + (a - b) * x + b * gx
        r_new = A @ x_new - y
        F_new = f(x_new, r_new)
        if monotone and F_new > F:
            x_new, r_new = gx, A @ gx - y
            F_new = f(x_new, r_new)
        x_prev, x, r = x, x_new, r_new
        history.append(F_new)
        change = abs(F_new - F) / F if F > 0 else abs(F_new - F)
        F = F_new
        if stop == "objective" and it >= min_iter and change <= tol:
            converged = True
            break
    return SparseResult(x, float(lam), it, np.asarray(history), converged, {"lipschitz": L, "stop": stop, "tol": tol})
