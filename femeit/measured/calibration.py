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

Optionally (``calibrate(..., common_mode="sink")``) the fit includes a model of
the *instrument*, not of the tank: each voltage channel picks up a small
fraction of the common-mode voltage, :func:`common_mode_design`.  On the
KTC2023 reference this term, not the tank geometry, is what limits a
reciprocal model (see the study ``femeit.studies.ktc2023``).
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
        Relative residual ``||V - y|| / ||y||`` over the used rows after the fit
        (with a common-mode term, ``||V + X eps - y|| / ||y||``).
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


COMMON_MODE_REFERENCES = ("sink", "mean")


def reading_channels(model: ForwardModel) -> tuple[np.ndarray, np.ndarray]:
    """The distinct voltage readings of a protocol (its measurement channels), in order of first use.

    Returns
    -------
    patterns : ndarray, shape (n_channels, L)
        Electrode weights of each channel.
    row_channel : ndarray of int, shape (n_rows,)
        The channel of each row.
    """
    meas = model.protocol.measurements
    _, first, inverse = np.unique(meas, axis=0, return_index=True, return_inverse=True)
    order = np.argsort(first)  # channels numbered by first use, e.g. KTC2023's U_k - U_k+1, k = 1..31
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return meas[first[order]], rank[np.asarray(inverse).ravel()]


def common_mode_voltages(model: ForwardModel, sigma, reference: str = "sink") -> np.ndarray:
    """Common-mode voltage of every reading, V, shape (n_rows,).

    For a row that reads ``sum_j m_j U_j`` the common-mode voltage is the
    ``|m|``-weighted mean of the read electrodes' potentials, ``sum_j |m_j|
    (U_j - U_ref) / sum_j |m_j|``, measured from the instrument's ground
    ``U_ref``.

    Parameters
    ----------
    model : ForwardModel
        CEM model (its electrode potentials include the contact-impedance drops).
    sigma : float or ndarray
        Conductivity, as for :meth:`ForwardModel.simulate`.
    reference : {"sink", "mean"}
        Where the instrument's ground is: ``"sink"``, the electrode through
        which the pattern's current leaves (a current source with a grounded
        return: its potential carries the sink's contact drop, the largest
        common-mode voltage in the system); ``"mean"``, the mean of all
        electrode potentials (a floating source).  Every pattern needs exactly
        one electrode with negative current for ``"sink"``.
    """
    if reference not in COMMON_MODE_REFERENCES:
        raise FemeitError(f"reference must be one of {COMMON_MODE_REFERENCES}, got {reference!r}")
    prot = model.protocol
    u = model.solve(sigma).electrode_potentials  # (n_inj, L), zero mean per pattern
    if reference == "sink":
        sinks = prot.injections < 0
        if not np.all(sinks.sum(axis=1) == 1):
            bad = np.flatnonzero(sinks.sum(axis=1) != 1)
            raise FemeitError(
                f"reference='sink' needs one electrode with negative current per pattern; patterns {bad[:5].tolist()} "
                "have none or several"
            )
        u = u - u[sinks][:, None]
    weights = np.abs(prot.measurements)
    if np.any(weights.sum(axis=1) == 0):
        raise FemeitError("a measurement pattern reads no electrode (all weights zero): no common-mode voltage")
    weights = weights / weights.sum(axis=1, keepdims=True)
    return np.einsum("ij,ij->i", weights, u[prot.row_injection])


def common_mode_design(model: ForwardModel, sigma, reference: str = "sink") -> np.ndarray:
    """Design matrix of per-channel common-mode errors, shape (n_rows, n_channels).

    A differential voltmeter with a finite, channel-dependent common-mode
    rejection reads ``v + eps_c * v_cm`` instead of ``v``; the data are then
    ``V + X @ eps`` with ``X[row, c] = v_cm[row]`` on the rows of channel c
    (:func:`reading_channels`) and 0 elsewhere.  ``eps`` is a property of the
    electronics (a CMRR of 40-60 dB is 1e-2..1e-3), the same for every
    current pattern: unlike a free gain or offset per row it must predict the
    patterns it was not fitted on, which the study ``femeit.studies.ktc2023`` checks.
    (Common-mode errors are the classic systematic error of EIT front ends,
    e.g. Boone and Holder 1996, Physiol. Meas. 17, 229.)  The same design
    also absorbs a gain error g_j on single electrode inputs of adjacent
    channels: channel k then reads about ``(g_k - g_k+1) v_cm`` extra, so an
    opposite-signed pair of neighbouring eps points at one electrode's gain
    rather than at two channels' rejection; the data cannot tell them apart.
    """
    _, row_channel = reading_channels(model)
    v_cm = common_mode_voltages(model, sigma, reference)
    x = np.zeros((len(v_cm), row_channel.max() + 1))
    x[np.arange(len(v_cm)), row_channel] = v_cm
    return x


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
    common_mode: str | None = None,
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
    common_mode : {None, "sink", "mean"}
        Also fit the instrument's per-channel common-mode error
        (:func:`common_mode_design` with this ground reference): the model
        becomes ``V(sigma, z) + X(sigma, z) @ eps``.  ``eps`` enters linearly,
        so it is eliminated in closed form at every evaluation (variable
        projection, Golub and Pereyra 1973) and the nonlinear fit still has
        only sigma and z.  The scan for the start ignores it.

    Returns
    -------
    Calibration
        ``initial_residual`` is that of the starting point (the best of the scan, or
        ``start``; with ``common_mode``, after eliminating eps there).  With
        ``common_mode``, ``extra`` holds ``"common_mode"`` (eps, shape
        (n_channels,), dimensionless; NaN for a channel with no row in the
        mask) and ``"common_mode_reference"``.
    """
    from scipy.optimize import least_squares

    if model.electrode_model != "cem":
        raise FemeitError("calibration of contact impedance needs the complete electrode model")
    y, mask = _check(model, measured, mask)
    if common_mode is not None and common_mode not in COMMON_MODE_REFERENCES:
        raise FemeitError(f"common_mode must be None or one of {COMMON_MODE_REFERENCES}, got {common_mode!r}")
    L = model.mesh.n_electrodes
    norm = np.linalg.norm(y[mask])
    n_eval = 0

    def misfit(sigma: float, z: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Scaled residual over the mask, and eps (None without the common-mode term)."""
        nonlocal n_eval
        n_eval += 1
        m = model.with_contact_impedance(z)
        r = m.simulate(sigma)[mask] - y[mask]
        if common_mode is None:
            return r / norm, None
        x = common_mode_design(m, sigma, common_mode)[mask]
        eps, *_ = np.linalg.lstsq(x, -r, rcond=None)
        return (r + x @ eps) / norm, eps

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
    if common_mode is not None:
        r0 = float(np.linalg.norm(misfit(sigma0, z0)[0]))
    p0 = np.r_[np.log(sigma0), np.log(z0) if per_electrode else np.log(np.exp(np.mean(np.log(z0))))]

    def unpack(p: np.ndarray) -> tuple[float, np.ndarray]:
        return float(np.exp(p[0])), np.exp(p[1:]) if per_electrode else np.full(L, np.exp(p[1]))

    def fun(p: np.ndarray) -> np.ndarray:
        return misfit(*unpack(p))[0]

    # Bounds keep z within 12 decades of the start: below, z no longer matters (flat).
    lower = np.r_[p0[0] - 10, np.full(len(p0) - 1, np.log(z0.min()) - 12)]
    upper = np.r_[p0[0] + 10, np.full(len(p0) - 1, np.log(z0.max()) + 12)]
    fit = least_squares(fun, p0, bounds=(lower, upper), diff_step=1e-4, x_scale=1.0)
    sigma, z = unpack(fit.x)
    extra = {}
    if common_mode is not None:
        eps = misfit(sigma, z)[1]
        # A channel with no row in the mask is not fitted (lstsq would report a minimum-norm 0).
        _, row_channel = reading_channels(model)
        eps[np.bincount(row_channel[mask], minlength=len(eps)) == 0] = np.nan
        extra = {"common_mode": eps, "common_mode_reference": common_mode}
    return Calibration(sigma, z, float(np.linalg.norm(fit.fun)), float(r0), per_electrode, n_eval, extra)


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
