"""Measurement noise with an explicit seed."""

from __future__ import annotations

import numpy as np

from femeit.errors import FemeitError


def add_noise(
    voltages: np.ndarray,
    *,
    snr_db: float | None = None,
    percent: float | None = None,
    relative_to: str = "max",
    seed: int | np.random.Generator,
) -> np.ndarray:
    """Add white Gaussian noise to simulated voltages.

    Exactly one of ``snr_db`` and ``percent`` sets the noise level:

    * ``snr_db``: noise standard deviation ``rms(v) / 10^(snr_db / 20)``, the
      signal-to-noise ratio in decibels of the whole frame (so 30 dB is an rms
      noise of 3.16 % of the rms signal);
    * ``percent``: standard deviation ``percent / 100 * scale`` where the
      scale is set by ``relative_to``: ``"max"`` (default) ``max|v|`` of the
      frame, one deviation for all readings; ``"reading"`` each reading's own
      ``|v_i|`` (proportional noise, ``v_i (1 + percent/100 n_i)``); ``"rms"``
      the rms of the frame.  Papers that say "p % noise" rarely say which; the
      choice matters with adjacent protocols, whose readings span more than an
      order of magnitude (the KGPSR-BB validation reads the paper's 3 % as
      ``"reading"``, see the study femeit.studies.kgpsr3d).

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
        if relative_to == "max":
            scale = np.abs(v).max(axis=-1, keepdims=True)
        elif relative_to == "reading":
            scale = np.abs(v)
        elif relative_to == "rms":
            scale = np.sqrt(np.mean(v**2, axis=-1, keepdims=True))
        else:
            raise FemeitError(f"relative_to must be 'max', 'reading' or 'rms', got {relative_to!r}")
        std = percent / 100 * scale
    return v + std * rng.standard_normal(v.shape)
