"""Projected Landweber iteration and the sensitivity-corrected Landweber with error penalty.

Landweber (Yang & Peng's form for ERT): ``x_{k+1} = P[x_k + alpha S'(y - S x_k)]``
with P the projection onto bounds (the "normalised conductivity limited between
0 and 1" of the ERT paper, Math. Probl. Eng. 2019, article 6384132, doi:10.1155/2019/6384132, eqs. 2-3).

The corrected algorithm of the same paper (section 3) re-linearises: after M
Landweber iterations with the uniform-field sensitivity S0 it corrects the
distribution with a coefficient driven by the relative boundary-voltage
residual, recomputes the sensitivity at the corrected distribution (a new
forward solve and Jacobian) and restarts Landweber from there.  The
equations for the penalty factor and the coefficient were lost in our copy of
the paper; our reading is

* penalty factor ``delta_p = ||U_meas - U(sigma_p)|| / ||U(sigma_p)||``,
* coefficient ``beta_p = 1 / (B + delta_p)`` with B in [0.5, 1.5] (default
  0.5), ``beta_form="B+delta"``,
* update ``sigma_{p+1} = P[sigma_p + beta_p dsigma_p]``, dsigma_p from Landweber
  with S(sigma_p) on the residual ``U_meas - U(sigma_p)``,
* stop when ``delta_p < tol`` or after the given number of corrections.

Why this reading of beta: the paper says the coefficient falls as delta grows,
that D2 and D3 (small voltage change) start with the larger coefficient, and
that for D2 "the constant term" makes beta exceed 1, "resulting in over
relaxation" after the first correction.  A coefficient ``1 / (B + delta)``
does all three: the constant term B < 1 gives beta > 1 whenever
``delta < 1 - B``.  Our former reading ``1 / (1 + B delta)`` can never exceed
1 (then the first correction is a pure shrinking of the Landweber increment);
it is kept as ``beta_form="1+B*delta"``.  The paper's value of B is lost with
its equations; 0.5, the low end of its range [0.5, 1.5], is the only end that
lets the over-relaxation it describes happen for deltas up to 0.5.

The paper's three algorithms are

1. plain projected Landweber with S0 (``corrections=1, penalty=None``),
2. correction without penalty, beta = 1 (``penalty=None``),
3. correction with the error penalty (``penalty=B``).

Iterations: the paper shows images after 1, 2 and 10 corrections that
"correspond to iterations 500, 600 and 1400", which we read as 500 Landweber
iterations before the first correction and 100 before each later one
(``iterations=(500, 100)``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from femeit.errors import FemeitError


@dataclass(frozen=True, eq=False)
class LandweberResult:
    """Result of :func:`landweber`.

    Attributes
    ----------
    x : ndarray, shape (n,)
        The last iterate.
    residuals : ndarray, shape (n_iter,)
        ``||y - S x_k||`` before each iteration k (for convergence plots).
    step : float
        The step length alpha used.
    """

    x: np.ndarray
    residuals: np.ndarray
    step: float


def largest_singular_value(jac: np.ndarray) -> float:
    """Spectral norm ||S||_2 from the eigenvalues of the smaller Gram matrix."""
    gram = jac @ jac.T if jac.shape[0] <= jac.shape[1] else jac.T @ jac
    return float(np.sqrt(max(np.linalg.eigvalsh(gram)[-1], 0.0)))


def _check_bounds(bounds, n: int) -> tuple[np.ndarray, np.ndarray] | None:
    if bounds is None:
        return None
    try:
        lo, hi = bounds
    except (TypeError, ValueError):
        raise FemeitError(f"bounds must be a (lower, upper) pair, got {bounds!r}") from None
    lo = np.broadcast_to(np.asarray(lo, dtype=float), (n,))
    hi = np.broadcast_to(np.asarray(hi, dtype=float), (n,))
    if np.any(np.isnan(lo)) or np.any(np.isnan(hi)) or np.any(lo > hi):
        raise FemeitError("bounds must satisfy lower <= upper everywhere (no NaN)")
    return lo, hi


def landweber(
    jac: np.ndarray,
    data: np.ndarray,
    n_iter: int,
    *,
    step: float | None = None,
    x0: np.ndarray | None = None,
    bounds: tuple | None = None,
) -> LandweberResult:
    """Projected Landweber iteration, ERT paper (Math. Probl. Eng. 2019, 6384132) eqs. 2-3.

    ``x_{k+1} = P[x_k + step S'(y - S x_k)]``.  Without bounds and from x0 = 0
    it converges to the minimum-norm least-squares solution for
    ``0 < step < 2 / ||S||^2``; stopping early regularises.

    Parameters
    ----------
    jac : ndarray, shape (m, n)
        Sensitivity S.
    data : ndarray, shape (m,)
        Data y (e.g. voltage changes, V).
    n_iter : int
        Number of iterations (>= 0).
    step : float, optional
        Step length alpha; default ``1 / ||S||_2^2`` (our choice: the largest
        step that damps every singular component monotonically).
    x0 : ndarray, shape (n,), optional
        Start (default zeros).
    bounds : (lower, upper), optional
        Scalars or arrays of shape (n,); the projection P clips to them.

    Returns
    -------
    LandweberResult
    """
    jac = np.asarray(jac, dtype=float)
    data = np.asarray(data, dtype=float)
    if jac.ndim != 2 or data.shape != (jac.shape[0],):
        raise FemeitError(f"data must have shape ({jac.shape[0]},) for a sensitivity of shape {jac.shape}")
    if not (np.all(np.isfinite(jac)) and np.all(np.isfinite(data))):
        raise FemeitError("the sensitivity or the data contain NaN or infinite values")
    if int(n_iter) != n_iter or n_iter < 0:
        raise FemeitError(f"n_iter must be a non-negative integer, got {n_iter}")
    n = jac.shape[1]
    if step is None:
        norm = largest_singular_value(jac)
        if norm == 0:
            raise FemeitError("the sensitivity matrix is zero")
        step = 1.0 / norm**2
    if not (np.isfinite(step) and step > 0):
        raise FemeitError(f"step must be positive, got {step}")
    box = _check_bounds(bounds, n)
    x = np.zeros(n) if x0 is None else np.array(x0, dtype=float)
    if x.shape != (n,):
        raise FemeitError(f"x0 must have shape ({n},), got {x.shape}")
    if box is not None:
        np.clip(x, *box, out=x)
    # S'y and S'S x cost the same as two products with S when m < n; keep S.
    jac_t = np.ascontiguousarray(jac.T)
    residuals = np.empty(int(n_iter))
    for k in range(int(n_iter)):
        r = data - jac @ x
        residuals[k] = np.sqrt(r @ r)
        x += step * (jac_t @ r)
        if box is not None:
            np.clip(x, *box, out=x)
    return LandweberResult(x, residuals, float(step))


@dataclass(frozen=True, eq=False)
class Correction:
    """One pass of the corrected algorithm: the state it started from and the image it produced.

    Attributes
    ----------
    delta : float
        Relative voltage residual ``||U_meas - U(sigma_p)|| / ||U(sigma_p)||`` at the start.
    beta : float
        Correction coefficient applied to the Landweber increment.
    iterations : int
        Landweber iterations in this pass.
    x : ndarray, shape (n_params,)
        The corrected distribution sigma_{p+1}, S/m.
    landweber_residuals : ndarray, shape (iterations,)
        Residual history of the inner Landweber run.
    """

    delta: float
    beta: float
    iterations: int
    x: np.ndarray
    landweber_residuals: np.ndarray


@dataclass(frozen=True, eq=False)
class CorrectedLandweberResult:
    """Result of :func:`corrected_landweber`.

    Attributes
    ----------
    x : ndarray, shape (n_params,)
        The final distribution, S/m.
    corrections : list of Correction
        One entry per pass, in order (images, residuals, coefficients for plotting).
    final_delta : float
        Relative voltage residual of the final distribution.
    """

    x: np.ndarray
    corrections: list
    final_delta: float


def corrected_landweber(
    model,
    data: np.ndarray,
    reference_data: np.ndarray,
    sigma_reference: float,
    *,
    grid=None,
    bounds: tuple | None = None,
    corrections: int = 2,
    iterations: tuple[int, int] = (500, 100),
    penalty: float | None = 0.5,
    beta_form: str = "B+delta",
    tol: float = 0.0,
    x0: np.ndarray | None = None,
    step_factor: float = 1.0,
) -> CorrectedLandweberResult:
    """Landweber with sensitivity-matrix correction and error penalty (ERT paper, section 3).

    Difference data are grafted onto the model: the target readings are
    ``U(sigma_reference) + (data - reference_data)``, so errors common to the
    measurement and its reference (mesh, electrode model) cancel as in a
    one-step difference image, while the correction re-linearises the model.

    Parameters
    ----------
    model : ForwardModel
        Forward model on the inversion mesh.
    data, reference_data : ndarray, shape (n_rows,)
        Readings with the object and of the uniform reference, V.
    sigma_reference : float
        Conductivity of the uniform reference (the liquid), S/m.
    grid : Grid, optional
        Parameters (default :func:`femeit.grids.ElementGrid` of the model's mesh).
    bounds : (lower, upper), optional
        Projection bounds on the conductivity, S/m (default ``(1e-3, 1) * sigma_reference``,
        the paper's normalised [0, 1] with a small positive gas conductivity so that the
        forward model stays well posed).
    corrections : int
        Number of passes (each pass: Landweber, then correction; a new Jacobian
        is computed at the start of every pass after the first).
    iterations : (int, int)
        Landweber iterations in the first pass and in each later pass.
    penalty : float or None
        B of the coefficient (Algorithm 3; default 0.5); None for beta = 1
        (Algorithms 1-2).
    beta_form : {"B+delta", "1+B*delta"}
        ``beta = 1 / (B + delta)`` (default; beta > 1, over-relaxation, when
        delta < 1 - B) or femeit's former ``beta = 1 / (1 + B delta)`` (<= 1).
    tol : float
        Stop before a pass when delta < tol.
    x0 : ndarray, shape (n_params,), optional
        Starting distribution (default uniform ``sigma_reference``).
    step_factor : float
        Landweber step as a multiple of ``1 / ||S_p||^2``.

    Returns
    -------
    CorrectedLandweberResult
    """
    from femeit.grids import ElementGrid

    grid = ElementGrid(model.mesh) if grid is None else grid
    n = grid.n_params
    n_rows = model.protocol.n_rows
    data = np.asarray(data, dtype=float)
    reference_data = np.asarray(reference_data, dtype=float)
    for name, arr in (("data", data), ("reference_data", reference_data)):
        if arr.shape != (n_rows,):
            raise FemeitError(f"{name} must have {n_rows} values (one per protocol row), got shape {arr.shape}")
        if not np.all(np.isfinite(arr)):
            raise FemeitError(f"{name} contains NaN or infinite values")
    if not (np.isfinite(sigma_reference) and sigma_reference > 0):
        raise FemeitError(f"sigma_reference must be positive, got {sigma_reference}")
    if int(corrections) != corrections or corrections < 1:
        raise FemeitError(f"corrections must be a positive integer, got {corrections}")
    if penalty is not None and not (np.isfinite(penalty) and penalty >= 0):
        raise FemeitError(f"penalty B must be non-negative (or None), got {penalty}")
    if beta_form not in ("B+delta", "1+B*delta"):
        raise FemeitError(f"beta_form must be 'B+delta' or '1+B*delta', got {beta_form!r}")
    if len(iterations) != 2 or min(iterations) < 0:
        raise FemeitError(f"iterations must be two non-negative counts (first pass, later passes), got {iterations}")
    lo, hi = _check_bounds((1e-3 * sigma_reference, sigma_reference) if bounds is None else bounds, n)
    if np.any(lo <= 0):
        raise FemeitError("the lower conductivity bound must be positive (the forward model needs sigma > 0)")

    def simulate(x: np.ndarray) -> np.ndarray:
        return model.simulate(grid.to_elements(x, background=sigma_reference))

    u_reference = model.simulate(sigma_reference)
    target = u_reference + (data - reference_data)
    x = np.full(n, float(sigma_reference)) if x0 is None else np.clip(np.asarray(x0, dtype=float), lo, hi)
    if x.shape != (n,):
        raise FemeitError(f"x0 must have shape ({n},), got {x.shape}")
    u = u_reference if x0 is None else simulate(x)
    history = []
    for p in range(int(corrections)):
        delta = float(np.linalg.norm(target - u) / np.linalg.norm(u))
        if delta < tol:
            break
        sigma = sigma_reference if (p == 0 and x0 is None) else grid.to_elements(x, background=sigma_reference)
        jac = model.jacobian(sigma, basis=grid.P)
        n_iter = iterations[0] if p == 0 else iterations[1]
        step = step_factor / largest_singular_value(jac) ** 2
        # Landweber on the increment, projected so that x + increment stays in bounds.
        inner = landweber(jac, target - u, n_iter, step=step, bounds=(lo - x, hi - x))
        if penalty is None:
            beta = 1.0
        elif beta_form == "B+delta":
            if penalty + delta <= 0:
                raise FemeitError("beta = 1 / (B + delta) is undefined for B = 0 at a zero residual; use B > 0")
            beta = 1.0 / (penalty + delta)
        else:
            beta = 1.0 / (1.0 + penalty * delta)
        x = np.clip(x + beta * inner.x, lo, hi)
        history.append(Correction(delta, beta, n_iter, x.copy(), inner.residuals))
        u = simulate(x)
    final_delta = float(np.linalg.norm(target - u) / np.linalg.norm(u))
    return CorrectedLandweberResult(x, history, final_delta)
