"""Automatic regularisation parameters with safeguards: discrepancy, L-curve, GCV.

One rule serves every solver of :mod:`femeit.inverse.base`: it picks a
Tikhonov lambda for the solver's (whitened) system, and each solver maps that
lambda to its own parameter (TSVD: the rank of the singular values with
``s^2 >= lambda``; the L1 solvers: the optimality level of the residual it
leaves; SMDR: the same lambda).

The rule works on the system the solver hands it: for Tikhonov, TSVD,
Landweber and SMDR on a 2D grid that is, by default, the column-scaled
``S / ||S_j||`` of the NOSER prior (:class:`femeit.inverse.scaling.SensitivityScaling`;
on a 3D grid the identity prior, see :data:`femeit.inverse.base.PRIOR_CHOICE`), so
the bounds below are fractions of that system's s_max^2.  These rules were
chosen on the DEV set of ``benchmarks/tuning_dev.py`` (its own generator and
seed), not on the validation benchmark; there, on 40 cases, the rule below
("auto") gives Tikhonov with the NOSER prior a mean CC of 0.78 (L-curve alone
0.79, discrepancy alone 0.72, GCV 0.76; the best fixed lambda 0.80).

Rules (``rule=``):

* ``"discrepancy"`` - Morozov's discrepancy principle: the largest lambda whose
  residual ``||S x_lam - y||`` is at most ``tau * sqrt(m)``, the expected norm
  of whitened noise over m readings (``tau = 1.1`` by default, our choice in
  the usual range 1-1.5).  Needs a noise model.
* ``"lcurve"`` - the corner of maximum curvature of (log residual, log
  solution norm) (Hansen, "Analysis of discrete ill-posed problems by means of
  the L-curve", SIAM Review 34 (1992)).
* ``"gcv"`` - the minimum of generalised cross-validation (Golub, Heath &
  Wahba, Technometrics 21 (1979)).
* ``"auto"`` (default) - the L-curve corner, but never below the discrepancy
  lambda when the noise is known: the discrepancy principle sees only the
  measurement noise, while linearisation and model error (always present with
  real or finer-mesh data) only raise the error level, so the larger of the
  two is taken (our choice; on the generated 2D benchmark the discrepancy
  lambda alone under-regularises Occam, mean CC 0.65 against 0.72).

Safeguards, applied to every rule:

1. lambda is searched only in ``bounds`` times ``scale`` (``s_max^2`` unless
   the solver says otherwise), default ``(1e-4, 1)``.  Below ``1e-4 s_max^2``
   the images of a 16-electrode system on data from a finer mesh are dominated
   by linearisation and discretisation error whatever the measurement noise
   (validation/generalisation.py: the CC of Tikhonov images falls below that
   bound at every noise level); this is where the raw L-curve of measured data
   collapsed (2e-8..9e-8 s_max^2).
2. An L-curve point counts as a corner only if its curvature is positive, it
   lies inside the range (not within 3 points of an end), and both legs are
   real: the solution norm grows by at least ``LEG`` (a factor 1.5) from the
   corner to the smallest lambda, and the residual by ``LEG`` to the largest.
   GCV's minimum must likewise lie inside the range.  The discrepancy rule
   fails when even the smallest lambda leaves a residual above the noise
   (model or linearisation error dominates).
3. Fallback order when a rule fails: (discrepancy ->) L-curve -> GCV ->
   :data:`FALLBACK` (``1e-3 scale``, the best single value on the generated
   2D benchmark, moved into ``bounds`` if it lies outside).  The rule that decided and the reasons
   for any fallback are returned (``rule``, ``notes``), with the whole curve.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from femeit.errors import FemeitError
from femeit.inverse.leastsquares import LinearSystem, lcurve_curvature

RULES = ("auto", "discrepancy", "lcurve", "gcv")
BOUNDS = (1e-4, 1.0)
"""Default search range of lambda, as fractions of s_max^2."""
FALLBACK = 1e-3
"""lambda / s_max^2 when no rule finds a valid choice."""
TAU = 1.1
"""Safety factor of the discrepancy principle."""
LEG = 1.5
"""Minimum growth of each leg of a real L-curve corner."""
N_LAMBDAS = 120


@dataclass(frozen=True, eq=False)
class ParameterChoice:
    """An automatic choice of lambda and the curve behind it.

    Attributes
    ----------
    lam : float
        The chosen lambda (units of the squared singular values).
    rule : str
        The rule that decided: "discrepancy", "lcurve", "gcv" or "fallback".
    requested : str
        The rule asked for.
    lambdas, residual, solution : ndarray, shape (n,)
        The lambdas searched and, for each, ``||S x - y||`` and ``||x||`` (standard form).
    curvature, gcv : ndarray, shape (n,) or None
        The L-curve curvature and the GCV function where computed.
    target : float or None
        The discrepancy target ``tau sqrt(m)``.
    notes : tuple of str
        Why a rule was rejected, if one was.
    """

    lam: float
    rule: str
    requested: str
    lambdas: np.ndarray
    residual: np.ndarray
    solution: np.ndarray
    curvature: np.ndarray | None = None
    gcv: np.ndarray | None = None
    target: float | None = None
    notes: tuple = field(default_factory=tuple)

    def as_dict(self) -> dict:
        """The choice as a plain dict (for ``Reconstruction.curve``)."""
        return {
            "lam": self.lam,
            "rule": self.rule,
            "requested": self.requested,
            "lambdas": self.lambdas,
            "residual": self.residual,
            "solution": self.solution,
            "curvature": self.curvature,
            "gcv": self.gcv,
            "target": self.target,
            "notes": self.notes,
        }


def check_bounds(bounds) -> tuple[float, float]:
    """Validate ``(low, high)`` fractions of s_max^2: 0 < low < high."""
    try:
        lo, hi = (float(b) for b in bounds)
    except (TypeError, ValueError):
        raise FemeitError(f"bounds must be two numbers (low, high) as fractions of s_max^2, got {bounds!r}") from None
    if not (np.isfinite(lo) and np.isfinite(hi) and 0 < lo < hi):
        raise FemeitError(f"bounds must satisfy 0 < low < high, got ({lo}, {hi})")
    return lo, hi


def _discrepancy(lambdas, residual, target):
    """Largest lambda with residual <= target (log-interpolated), or None with the reason."""
    ok = residual <= target
    if not ok[0]:
        return None, f"even lambda = {lambdas[0]:.3g} leaves a residual {residual[0]:.3g} > {target:.3g}"
    if ok[-1]:
        return float(lambdas[-1]), None
    i = int(np.flatnonzero(~ok)[0])  # residual grows with lambda: first failure, previous ok
    x0, x1 = np.log(lambdas[i - 1]), np.log(lambdas[i])
    y0, y1 = np.log(residual[i - 1]), np.log(residual[i])
    t = (np.log(target) - y0) / (y1 - y0) if y1 > y0 else 0.0
    return float(np.exp(x0 + t * (x1 - x0))), None


def _corner(lambdas, residual, solution):
    """(lam, curvature) of a real L-curve corner, or (None, curvature, reason)."""
    kappa = lcurve_curvature(lambdas, residual, solution)
    i = int(np.argmax(kappa))
    n = len(lambdas)
    if not kappa[i] > 0:
        return None, kappa, "the L-curve has no convex corner in the range"
    if i < 3 or i > n - 4:
        return None, kappa, f"the L-curve's maximum curvature lies at the end of the range (lambda = {lambdas[i]:.3g})"
    if solution[0] < LEG * solution[i] or residual[-1] < LEG * residual[i]:
        return None, kappa, "the L-curve point of maximum curvature is not a corner (a leg is missing)"
    return float(lambdas[i]), kappa, None


def choose_parameter(
    system: LinearSystem,
    y: np.ndarray,
    *,
    rule: str = "auto",
    noise_known: bool = False,
    bounds=BOUNDS,
    tau: float = TAU,
    scale: float | None = None,
) -> ParameterChoice:
    """Choose lambda for the whitened system ``system`` and data ``y`` (see the module docstring).

    Parameters
    ----------
    system : LinearSystem
        SVD of the (whitened, standard-form) sensitivity.
    y : ndarray, shape (m,)
        Whitened data (unit noise variance per reading when ``noise_known``).
    rule : {"auto", "discrepancy", "lcurve", "gcv"}
    noise_known : bool
        The data are whitened by a real noise model (required by "discrepancy").
    bounds : (low, high)
        Search range as fractions of s_max^2.
    tau : float
        Discrepancy safety factor (>= 1).
    scale : float, optional
        What the bounds and the fallback are fractions of; default ``s_max^2``
        of the system.

    Returns
    -------
    ParameterChoice
    """
    if rule not in RULES:
        raise FemeitError(f"rule must be one of {RULES}, got {rule!r}")
    if rule == "discrepancy" and not noise_known:
        raise FemeitError("the discrepancy rule needs a noise model (noise=NoiseModel(...))")
    if not (np.isfinite(tau) and tau >= 1):
        raise FemeitError(f"tau must be a number >= 1, got {tau}")
    lo, hi = check_bounds(bounds)
    s2 = system.s[0] ** 2 if scale is None else float(scale)
    lambdas = np.logspace(np.log10(lo * s2), np.log10(hi * s2), N_LAMBDAS)
    residual, solution = system.lcurve(y, lambdas)
    if not np.any(solution > 0):
        raise FemeitError("the data are zero on the range of the sensitivity: nothing to reconstruct")
    solution = np.maximum(solution, np.finfo(float).tiny)
    residual = np.maximum(residual, np.finfo(float).tiny)
    notes: list[str] = []
    common = dict(requested=rule, lambdas=lambdas, residual=residual, solution=solution)
    target = None
    lam_d = None
    if rule == "discrepancy" or (rule == "auto" and noise_known):
        target = tau * np.sqrt(len(y))
        lam_d, why = _discrepancy(lambdas, residual, target)
        if lam_d is not None and rule == "discrepancy":
            return ParameterChoice(lam_d, "discrepancy", target=target, **common)
        if lam_d is None:
            notes.append("discrepancy: " + why)
    kappa = None
    if rule in ("auto", "discrepancy", "lcurve"):
        lam, kappa, why = _corner(lambdas, residual, solution)
        if lam is not None and lam_d is not None and lam_d > lam:
            notes.append("lcurve: its corner lies below the discrepancy lambda")
            lam = None
        if lam is not None:
            return ParameterChoice(lam, "lcurve", curvature=kappa, target=target, notes=tuple(notes), **common)
        if lam_d is not None:
            return ParameterChoice(lam_d, "discrepancy", curvature=kappa, target=target, notes=tuple(notes), **common)
        notes.append("lcurve: " + why)
    g = system.gcv(y, lambdas)
    i = int(np.argmin(g))
    if 3 <= i <= len(g) - 4:
        return ParameterChoice(
            float(lambdas[i]), "gcv", curvature=kappa, gcv=g, target=target, notes=tuple(notes), **common
        )
    notes.append(f"gcv: the minimum lies at the end of the range (lambda = {lambdas[i]:.3g})")
    # The fallback, like every choice, stays inside the bounds (a solver whose
    # range starts above FALLBACK gets its lower bound).
    fallback = float(np.clip(FALLBACK, lo, hi)) * s2
    return ParameterChoice(fallback, "fallback", curvature=kappa, gcv=g, target=target, notes=tuple(notes), **common)
