"""Shared checks of user input: numbers, whole numbers, matrices with their data.

Each raises :class:`~femeit.errors.FemeitError` (or the subclass given as
``error``) with a message that names the offending input, so callers never
let a bad value reach numpy, scipy or gmsh.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from femeit.errors import FemeitError


def finite_number(
    name: str, value: Any, *, positive: bool = False, non_negative: bool = False, error: type = FemeitError
) -> float:
    """``value`` as a float, refusing booleans, non-numbers, NaN and infinities (and signs as asked).

    Parameters
    ----------
    name : str
        How the message names the value, e.g. ``"CircleSpec.radius"``.
    value : any
    positive, non_negative : bool
        Also require ``value > 0`` or ``value >= 0``.
    error : FemeitError subclass
        The exception raised.

    Returns
    -------
    float
    """
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | float | np.integer | np.floating):
        raise error(f"{name} must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise error(f"{name} must be finite, got {value!r}")
    if positive and value <= 0:
        raise error(f"{name} must be positive, got {value!r}")
    if non_negative and value < 0:
        raise error(f"{name} must be zero or positive, got {value!r}")
    return value


def whole_number(name: str, value: Any, *, minimum: int = 1, error: type = FemeitError) -> int:
    """``value`` as an int: a whole number (``3`` or ``3.0``, not ``True``) of at least ``minimum``."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | float | np.integer | np.floating):
        raise error(f"{name} must be a whole number, got {value!r}")
    if not math.isfinite(value) or int(value) != value:
        raise error(f"{name} must be a whole number, got {value!r}")
    if value < minimum:
        raise error(f"{name} must be at least {minimum}, got {value!r}")
    return int(value)


def matrix_and_data(
    matrix: Any, data: Any = None, *, name: str = "the matrix", frames: bool = False
) -> tuple[np.ndarray, np.ndarray | None]:
    """A finite, non-empty 2D float matrix (m, n) and, if given, finite data with one value per row.

    Parameters
    ----------
    matrix : array_like, shape (m, n)
    data : array_like, shape (m,) (or (m, k) with ``frames``), optional
    name : str
        How the message names the matrix, e.g. ``"the sensitivity matrix"``.
    frames : bool
        Accept several data columns (one per frame).

    Returns
    -------
    matrix : ndarray, shape (m, n)
    data : ndarray or None
    """
    a = np.asarray(matrix, dtype=float)
    if a.ndim != 2 or min(a.shape) == 0:
        raise FemeitError(f"{name} must be 2D and non-empty (n_data, n_params), got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise FemeitError(f"{name} contains NaN or infinite values")
    if data is None:
        return a, None
    y = np.asarray(data, dtype=float)
    ok = y.ndim in ((1, 2) if frames else (1,)) and y.shape[0] == a.shape[0]
    if not ok:
        raise FemeitError(f"data must have {a.shape[0]} rows, one per row of {name} {a.shape}; got shape {y.shape}")
    if not np.all(np.isfinite(y)):
        raise FemeitError("data contain NaN or infinite values; drop missing rows explicitly")
    return a, y
