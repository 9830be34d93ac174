"""Calibration of a forward model to a measured reference (an empty tank).

Fits the homogeneous background conductivity sigma and the contact
impedances z (one shared value, or one per electrode) by nonlinear least
squares on the relative residual ``(V(sigma, z) - y) / ||y||``, with log
parameters so that both stay positive.  :func:`scan_electrode_width` adds the
electrode width, which only a new mesh can change.

In 2D the voltages of a homogeneous disk obey ``V(sigma, z) = V(1, sigma z) /
sigma``: the shape of the data fixes the product ``sigma z`` (a length) and
their scale fixes sigma.  The fit starts from a scan of that product with sigma
in closed form, which avoids the flat region where z is too small to matter.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from femeit.errors import FemeitError
from femeit.forward import ForwardModel


@dataclass(frozen=True)
class Calibration:
    """A fitted background.

    Attributes
    ----------
    sigma : float
        Background conductivity, S/m (in 2D: S, conductivity times thickness).
    contact_impedance : ndarray, shape (L,)
        Contact impedance per electrode, ohm m (2D) or ohm m^2 (3D).
    residual : float
        Relative residual ``||V - y|| / ||y||`` over the used rows after the fit.
    initial_residual : float
        The same before the fit (the starting model).
    per_electrode : bool
        Whether z was fitted per electrode.
    n_evaluations : int
        Forward solves the fit used.
    extra : dict
        Anything else fitted (e.g. the electrode width).
    """

    sigma: float
    contact_impedance: np.ndarray
    residual: float
    initial_residual: float
    per_electrode: bool
    n_evaluations: int = 0
    extra: dict = field(default_factory=dict)


def relative_residual(predicted: np.ndarray, measured: np.ndarray, mask: np.ndarray | None = None) -> float:
    """``||predicted - measured|| / ||measured||`` over the rows in ``mask`` (all when None)."""
    p, y = np.asarray(predicted, float), np.asarray(measured, float)
    if p.shape != y.shape:
        raise FemeitError(f"predicted and measured data differ in shape: {p.shape} and {y.shape}")
    if mask is not None:
        p, y = p[mask], y[mask]
    if not (np.all(np.isfinite(p)) and np.all(np.isfinite(y))):
        raise FemeitError("data contain NaN or infinite values; pass a mask of usable rows")
    return float(np.linalg.norm(p - y) / np.linalg.norm(y))


def _check(model: ForwardModel, measured: np.ndarray, mask) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(measured, dtype=float)
    if y.shape != (model.protocol.n_rows,):
        raise FemeitError(f"measured data must have {model.protocol.n_rows} values, got shape {y.shape}")
    mask = np.isfinite(y) if mask is None else np.asarray(mask, dtype=bool)
    if mask.shape != y.shape:
        raise FemeitError(f"mask must have shape {y.shape}, got {mask.shape}")
    if not np.all(np.isfinite(y[mask])):
        raise FemeitError("the mask keeps rows with NaN or infinite values")
    if mask.sum() < 2:
        raise FemeitError("calibration needs at least two usable rows")
    return y, mask


def best_scale_conductivity(model: ForwardModel, measured: np.ndarray, mask: np.ndarray | None = None) -> float:
    """The conductivity that best fits ``measured`` at the model's own contact impedance, in closed form.

    Uses ``V(sigma, z) ~ V(1, z) / sigma``, exact for the point and shunt models
    and for the CEM when z is negligible; a quick starting value.
    """
    y, mask = _check(model, measured, mask)
    v = model.simulate(1.0)[mask]
    a = float(v @ y[mask]) / float(v @ v)
    if a <= 0:
        raise FemeitError("the measured data are anti-correlated with the model: check signs and the protocol")
    return 1.0 / a


def calibrate(
    model: ForwardModel,
    measured: np.ndarray,
    mask: np.ndarray | None = None,
    *,
    per_electrode: bool = False,
    start: Calibration | None = None,
    products: np.ndarray | None = None,
) -> Calibration:
    """Fit background conductivity and contact impedance(s) to reference data.

    Parameters
    ----------
    model : ForwardModel
        A CEM model of the empty sensor; its contact impedance is only a starting value.
    measured : ndarray, shape (n_rows,)
        Reference voltages, V (NaN allowed outside ``mask``).
    mask : ndarray of bool, shape (n_rows,), optional
        Rows to fit (default: the finite ones).
    per_electrode : bool
        One z per electrode (L + 1 parameters) instead of a shared one (2).
    start : Calibration, optional
        Start from an earlier fit (e.g. the shared fit before the per-electrode one).
    products : ndarray, optional
        Values of ``sigma z`` to scan for the start, m (default logspace(-8, -1, 15)).

    Returns
    -------
    Calibration
        ``initial_residual`` is that of the starting point (the best of the scan, or ``start``).
    """
    from scipy.optimize import least_squares

    if model.electrode_model != "cem":
        raise FemeitError("calibration of contact impedance needs the complete electrode model")
    y, mask = _check(model, measured, mask)
    L = model.mesh.n_electrodes
    norm = np.linalg.norm(y[mask])
    n_eval = 0

    def predict(sigma: float, z: np.ndarray) -> np.ndarray:
        nonlocal n_eval
        n_eval += 1
        return model.with_contact_impedance(z).simulate(sigma)[mask]

    if start is None:
        grid = np.logspace(-8, -1, 15) if products is None else np.asarray(products, float)
        best = None
        for zeta in grid:
            v = predict(1.0, np.full(L, zeta))
            a = float(v @ y[mask]) / float(v @ v)
            if a <= 0:
                continue
            r = np.linalg.norm(a * v - y[mask]) / norm
            if best is None or r < best[0]:
                best = (r, 1.0 / a, zeta * a)
        if best is None:
            raise FemeitError("the measured data are anti-correlated with the model: check signs and the protocol")
        r0, sigma0, z0 = best
        z0 = np.full(L, z0)
    else:
        sigma0, z0 = start.sigma, np.broadcast_to(start.contact_impedance, (L,)).copy()
        r0 = np.linalg.norm(predict(sigma0, z0) - y[mask]) / norm
    p0 = np.r_[np.log(sigma0), np.log(z0) if per_electrode else np.log(np.exp(np.mean(np.log(z0))))]

    def fun(p: np.ndarray) -> np.ndarray:
        z = np.exp(p[1:]) if per_electrode else np.full(L, np.exp(p[1]))
        return (predict(np.exp(p[0]), z) - y[mask]) / norm

    # Bounds keep z within 12 decades of the start: below, z no longer matters (flat).
    lower = np.r_[p0[0] - 10, np.full(len(p0) - 1, np.log(z0.min()) - 12)]
    upper = np.r_[p0[0] + 10, np.full(len(p0) - 1, np.log(z0.max()) + 12)]
    fit = least_squares(fun, p0, bounds=(lower, upper), diff_step=1e-4, x_scale=1.0)
    sigma = float(np.exp(fit.x[0]))
    z = np.exp(fit.x[1:]) if per_electrode else np.full(L, np.exp(fit.x[1]))
    return Calibration(sigma, z, float(np.linalg.norm(fit.fun)), float(r0), per_electrode, n_eval)


def scan_electrode_width(
    build: Callable[[float], ForwardModel],
    measured: np.ndarray,
    widths: np.ndarray,
    mask: np.ndarray | None = None,
) -> tuple[float, list[Calibration]]:
    """Fit sigma and a shared z for each electrode width and return the best width.

    Parameters
    ----------
    build : callable
        ``build(width)`` returns a CEM forward model with electrodes of that width (m).
    measured : ndarray, shape (n_rows,)
        Reference voltages, V.
    widths : ndarray, shape (n,)
        Electrode widths to try, m.
    mask : ndarray of bool, optional
        Rows to fit.

    Returns
    -------
    width : float
        The width with the smallest residual.
    fits : list of Calibration
        One shared-z fit per width (``extra["width"]`` holds it).
    """
    widths = np.asarray(widths, dtype=float)
    if widths.ndim != 1 or len(widths) == 0 or np.any(widths <= 0):
        raise FemeitError("widths must be a non-empty 1D array of positive lengths")
    fits = []
    for w in widths:
        c = calibrate(build(float(w)), measured, mask)
        fits.append(
            Calibration(
                c.sigma,
                c.contact_impedance,
                c.residual,
                c.initial_residual,
                False,
                c.n_evaluations,
                {"width": float(w)},
            )
        )
    best = int(np.argmin([f.residual for f in fits]))
    return float(widths[best]), fits
