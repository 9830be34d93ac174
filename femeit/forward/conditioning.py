"""Input and conditioning checks of the forward system: real numbers in, a warning when digits are lost.

The complete-electrode-model system mixes two scales: the stiffness terms,
proportional to the conductivity (times the element size in 3D), and the
electrode terms, the electrode size over the contact impedance.  When the
electrode terms dominate (z -> 0) the system is a penalty method that keeps the
stiffness only in the last digits; when they are negligible (z -> infinity) the
electrode potentials carry a huge common term z I / |e| and the readings, their
differences, cancel it.  Either way about ``log10`` of the ratio of the two
scales is lost, and the conductivity contrast adds its decades.  We estimate

    reliable digits ~ 16 - |log10(electrode term / median stiffness term)| - log10(max sigma / min sigma)

and warn below 6.  Measured on a 16-electrode unit disk (2D): sigma = 1e-12 S/m
with z = 0.01 gives 3 (readings 2.75 % off), z = 1e-15 gives 2 (45 % off the
shunt model), z = 1e12 gives 3 (85 % off the large-z limit); sigma = 1, z = 0.01
gives 15, and a contrast of 1e6 gives 9 (readings accurate).  The KTC2023 tank
(z about 1e-6 Ohm m) gives about 8.
"""

from __future__ import annotations

import math

import numpy as np

from femeit.errors import FemeitError, warn

MIN_DIGITS = 6.0


class ConditioningWarning(RuntimeWarning):
    """The forward system's scales leave fewer than about 6 reliable digits."""


def real_values(value, what: str) -> np.ndarray:
    """``value`` as a float array, refusing what would be silently changed.

    Complex values (the imaginary part would be dropped), strings, ``None``
    and other non-numbers raise :class:`FemeitError` naming ``what``.
    """
    if value is None:
        raise FemeitError(f"{what} is None; give a number or an array of numbers")
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError) as exc:
        raise FemeitError(f"{what} is not an array of numbers: {exc}") from None
    if arr.dtype.kind == "c":
        raise FemeitError(
            f"{what} is complex; femeit models real conductivity only (the imaginary part would be "
            "dropped silently): give the real part, or the modulus, explicitly"
        )
    if arr.dtype.kind not in "iuf":
        example = next((v for v in arr.ravel() if not isinstance(v, (int, float, np.number))), None)
        raise FemeitError(f"{what} must hold numbers, got {arr.dtype} values such as {example!r}")
    return arr.astype(float)


def reliable_digits(
    system,
    sigma: np.ndarray,
    n_electrodes: int,
    diagonal: np.ndarray | None = None,
    sigma_range: tuple[float, float] | None = None,
) -> float:
    """Estimated number of reliable decimal digits of the readings (see the module docstring).

    Parameters
    ----------
    system : scipy.sparse matrix, shape (n, n)
        The grounded system matrix; its last ``n_electrodes - 1`` unknowns are
        the electrode potentials (complete electrode model), or none (0).
    sigma : ndarray, shape (n_elements,)
        The conductivity, S/m.
    n_electrodes : int
        Electrodes of the complete electrode model, 0 for the shunt and point models.
    diagonal : ndarray, shape (n,), optional
        ``system.diagonal()``, when the caller has it at hand.
    sigma_range : (float, float), optional
        ``(sigma.min(), sigma.max())``, when the caller has them at hand.
    """
    diag = system.diagonal() if diagonal is None else diagonal
    # An SPD matrix has a positive diagonal; a NaN makes the minimum NaN, an inf the maximum:
    # two reductions decide.
    if diag.size == 0 or not (diag.min() > 0 and diag.max() < math.inf):
        return -math.inf
    low, high = (sigma.min(), sigma.max()) if sigma_range is None else sigma_range
    loss = math.log10(float(high / low))
    n_el = max(n_electrodes - 1, 0)
    if n_el:
        stiffness = float(np.median(diag[: diag.size - n_el]))
        electrodes = diag[diag.size - n_el :]
        loss += max(math.log10(electrodes.max() / stiffness), -math.log10(electrodes.min() / stiffness), 0.0)
    return 16.0 - loss


def check_conditioning(
    system, sigma: np.ndarray, n_electrodes: int, diagonal: np.ndarray | None = None, sigma_range: tuple | None = None
) -> float:
    """Warn (:class:`ConditioningWarning`) when the readings keep fewer than 6 reliable digits.

    Returns the estimate of :func:`reliable_digits` (same parameters).
    """
    digits = reliable_digits(system, sigma, n_electrodes, diagonal, sigma_range)
    if digits >= MIN_DIGITS:
        return digits
    diag = np.abs(system.diagonal())
    n_el = max(n_electrodes - 1, 0)
    parts = [f"conductivity {sigma.min():.3g}..{sigma.max():.3g} S/m"]
    if n_el:
        stiffness = float(np.median(diag[: diag.size - n_el]))
        ratio = diag[diag.size - n_el :] / stiffness
        parts.append(f"electrode terms (size / z) {ratio.min():.2g}..{ratio.max():.2g} times the stiffness terms")
    warn(
        f"the forward readings keep only about {max(digits, 0):.0f} reliable digits (fewer than {MIN_DIGITS:.0f}): "
        + "; ".join(parts)
        + ". Bring sigma * h / z nearer 1 (rescale units) or reduce the contrast",
        ConditioningWarning,
    )
    return digits
