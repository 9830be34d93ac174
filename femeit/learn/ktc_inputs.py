"""Network inputs of the learned KTC2023 pipeline: the classical linearised reconstruction of a level.

The learned pipeline post-processes the image of the classical pipeline
(:mod:`femeit.ktc2023.classical`, step 3): noise-weighted linearised difference
imaging on a 32 x 32 pixel grid with the level's removed electrodes dropped,
the response to a uniform change projected out, Occam at the classical fixed
whitened strength of that level.  That map from data to pixels is linear, so it
is computed once per level as a matrix ``R`` (pixels x usable rows) and applied
to any number of data vectors at once (simulated training data, a measured
target).  The pixelwise noise standard deviation of the image is exact:
``sqrt(sum_i (R_ki std_i)^2)`` with ``std_i`` the noise of reading ``i``.

Input channels, each (32, 32), row 0 at +y:

0. the z-score image ``x / noise`` divided by :data:`Z_SCALE` (x is
   ``dsigma / sigma0``; a unit-free, level-independent contrast scale);
1. the image ``x`` itself divided by :data:`X_SCALE` (the contrast's size);
2. the level as a constant, ``(level - 1) / 6``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from femeit.errors import FemeitError

INPUT_SHAPE = (32, 32)
N_PIXELS = INPUT_SHAPE[0] * INPUT_SHAPE[1]
N_CHANNELS = 3
Z_SCALE = 10.0
"""Divides the z-score channel (noise-only images have unit standard deviation)."""
X_SCALE = 5.0
"""Divides the dsigma / sigma0 channel."""


def level_lambda(level: int) -> float:
    """The classical pipeline's Occam strength of ``level`` (whitened units)."""
    from femeit.ktc2023.classical import CLASSICAL_SETTINGS

    if level not in CLASSICAL_SETTINGS:
        raise FemeitError(f"level must be one of {sorted(CLASSICAL_SETTINGS)}, got {level!r}")
    return float(CLASSICAL_SETTINGS[level].lam)


@dataclass(eq=False)
class LevelInputs:
    """The inputs of every level on one calibrated tank (:class:`~femeit.ktc2023.classical.TankImager`).

    Attributes
    ----------
    protocol : Protocol
        The KTC2023 protocol (2356 rows).
    imager : TankImager or None
        Calibrated to the measured level-1 reference (its noise model and row weights are used);
        None when every operator needed was given (:meth:`from_operators`).
    """

    protocol: object
    imager: object = None
    _operators: dict = field(default_factory=dict, repr=False)

    @classmethod
    def from_reference(cls, reference) -> LevelInputs:
        """Calibrate the tank to a complete (level-1) reference :class:`~femeit.ktc2023.Measurement`."""
        import warnings

        from femeit.forward.conditioning import ConditioningWarning
        from femeit.ktc2023.classical import TankImager

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConditioningWarning)  # see TankImager.calibrated
            return cls(reference.protocol, TankImager.calibrated(reference))

    @classmethod
    def from_operators(cls, protocol, operators: dict) -> LevelInputs:
        """Inputs from operators computed before (:meth:`operators`), with no tank model.

        Parameters
        ----------
        protocol : Protocol
        operators : dict
            Level (1..7) -> ``(R, noise)`` of :meth:`operator` for the level's default mask.
        """
        out = cls(protocol)
        for level, (r, noise) in operators.items():
            r, noise = np.asarray(r, dtype=float), np.asarray(noise, dtype=float)
            if r.shape != (N_PIXELS, protocol.n_rows) or noise.shape != (r.shape[0],):
                raise FemeitError(f"level {level}: an operator must be ({N_PIXELS}, {protocol.n_rows}), got {r.shape}")
            out._operators[(int(level), np.packbits(out.mask(int(level))).tobytes())] = (r, noise)
        return out

    def operators(self) -> dict:
        """Level -> ``(R, noise)`` of every default-mask operator built so far (for :meth:`from_operators`)."""
        default = {level: np.packbits(self.mask(level)).tobytes() for level in {key[0] for key in self._operators}}
        return {key[0]: value for key, value in self._operators.items() if key[1] == default[key[0]]}

    @property
    def n_rows(self) -> int:
        return int(self.protocol.n_rows)

    def mask(self, level: int) -> np.ndarray:
        """Usable rows of ``level`` on the tank's protocol, shape (n_rows,), bool."""
        from femeit.ktc2023.reader import usable_rows

        return usable_rows(self.protocol, level)

    def operator(self, level: int, mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The level's linear reconstruction and its noise image.

        Parameters
        ----------
        level : int
            1..7 (its Occam strength).
        mask : ndarray of bool, shape (n_rows,), optional
            Usable rows (default: the level's removed electrodes dropped).

        Returns
        -------
        R : ndarray, shape (1024, n_rows)
            ``x = R dv`` (dv in V, x = dsigma / sigma0 on the 32 x 32 pixels, row-major);
            columns of unusable rows are zero.
        noise : ndarray, shape (1024,)
            Standard deviation of x under the reference's noise model (positive inside the tank, 0 outside).
        """
        level_lambda(level)  # refuses a level outside 1..7
        mask = self.mask(level) if mask is None else np.asarray(mask, dtype=bool)
        if mask.shape != (self.n_rows,) or not mask.any():
            raise FemeitError(f"the mask must hold {self.n_rows} booleans with at least one True, got {mask.shape}")
        key = (level, np.packbits(mask).tobytes())
        if key not in self._operators:
            if self.imager is None:
                raise FemeitError(f"no tank model to build the level-{level} operator for this mask")
            self._operators[key] = self._build(level, mask)
        return self._operators[key]

    def _build(self, level: int, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        from femeit.measured.difference import to_challenge_image

        solver, w, j0, _ = self.imager._solver(mask, level_lambda(level), INPUT_SHAPE)
        # Occam at a fixed strength is one matrix M (parameters x whitened rows); the whitened data
        # y = w dv are projected (I - j0 j0') first, and the grid's parameters resampled to the pixels (T).
        lam = solver(np.zeros(len(j0))).params["lam"]
        m = solver.system.tikhonov_matrix(lam)
        m = m - np.outer(m @ j0, j0)
        n_params = m.shape[0]
        grid = self.imager.grid
        t = np.column_stack(
            [to_challenge_image(grid, np.eye(1, n_params, k).ravel(), INPUT_SHAPE).ravel() for k in range(n_params)]
        )
        cols = t @ m
        r = np.zeros((cols.shape[0], self.n_rows))
        r[:, mask] = cols * w[None, :]
        std = self.imager.noise_std()
        noise = np.sqrt(((r * std[None, :]) ** 2).sum(axis=1))
        return r, noise

    def images(self, dv: np.ndarray, level: int, mask: np.ndarray | None = None) -> np.ndarray:
        """The reconstruction ``x = dsigma / sigma0`` of data changes, shape (n, 32, 32).

        Parameters
        ----------
        dv : ndarray, shape (n, n_rows) or (n_rows,)
            Target minus reference voltages, V; NaN allowed on rows outside the mask only.
        level : int
        mask : ndarray of bool, shape (n_rows,), optional
        """
        r, _ = self.operator(level, mask)
        mask = self.mask(level) if mask is None else np.asarray(mask, dtype=bool)
        dv = np.atleast_2d(np.asarray(dv, dtype=float))
        if dv.ndim != 2 or dv.shape[1] != self.n_rows:
            raise FemeitError(
                f"the data change must hold {self.n_rows} readings per target (the KTC2023 protocol), "
                f"got shape {np.shape(dv)}"
            )
        if not np.all(np.isfinite(dv[:, mask])):
            raise FemeitError(f"the data change holds NaN or infinite values on rows usable at level {level}")
        x = np.where(mask[None, :], dv, 0.0) @ r.T
        return x.reshape(len(dv), *INPUT_SHAPE)

    def inputs(self, dv: np.ndarray, level: int, mask: np.ndarray | None = None) -> np.ndarray:
        """Network inputs of data changes at a level, shape (n, 3, 32, 32), float32 (module docstring)."""
        x = self.images(dv, level, mask)
        _, noise = self.operator(level, mask)
        noise = noise.reshape(INPUT_SHAPE)
        z = np.where(noise > 0, x / np.where(noise > 0, noise, 1.0), 0.0)
        out = np.empty((len(x), N_CHANNELS, *INPUT_SHAPE), dtype=np.float32)
        out[:, 0] = z / Z_SCALE
        out[:, 1] = x / X_SCALE
        out[:, 2] = (level - 1) / 6.0
        return out
