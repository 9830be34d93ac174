"""Measurement noise with an explicit seed."""

from __future__ import annotations

import numpy as np

from femeit.errors import FemeitError


def add_noise(
    voltages: np.ndarray,
    *,
    snr_db: float | None = None,
    percent: float | None = None,
    seed: int | np.random.Generator,
) -> np.ndarray:
    """Add white Gaussian noise to simulated voltages.

    Exactly one of ``snr_db`` and ``percent`` sets the noise level:

    * ``snr_db``: noise standard deviation ``rms(v) / 10^(snr_db / 20)``, the
      signal-to-noise ratio in decibels of the whole frame (so 30 dB is an rms
      noise of 3.16 % of the rms signal);
    * ``percent``: standard deviation ``percent / 100 * max|v|`` (the
      convention of the KGPSR-BB paper's 1 % and 3 % noise).

    Parameters
    ----------
    voltages : ndarray, shape (..., n_rows)
        Noise-free data, V; the level is computed per frame (last axis).
    seed : int or numpy Generator
        Required: the same seed gives the same noise.

    Returns
    -------
    ndarray, same shape as ``voltages``
    """
    if (snr_db is None) == (percent is None):
        raise FemeitError("give exactly one of snr_db and percent")
    v = np.asarray(voltages, dtype=float)
    if not np.all(np.isfinite(v)):
        raise FemeitError("voltages contain NaN or infinite values")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    if snr_db is not None:
        if not np.isfinite(snr_db):
            raise FemeitError(f"snr_db must be finite, got {snr_db}")
        std = np.sqrt(np.mean(v**2, axis=-1, keepdims=True)) / 10 ** (snr_db / 20)
    else:
        if not (np.isfinite(percent) and percent >= 0):
            raise FemeitError(f"percent must be a non-negative number, got {percent}")
        std = percent / 100 * np.abs(v).max(axis=-1, keepdims=True)
    return v + std * rng.standard_normal(v.shape)
