"""Data noise models for reconstruction: covariance, missing readings and whitening.

A :class:`NoiseModel` says how uncertain each reading is.  The standard
deviation of reading i is

    ``std_i = sqrt(absolute_i^2 + (relative * |reference_i|)^2)``

(an additive floor and a part proportional to the reading, independent and
added in quadrature), optionally with a correlation matrix between readings,
so the covariance is ``C = D R D`` with ``D = diag(std)``.  Readings outside
``mask`` are missing (a removed electrode, a broken channel) and are dropped
before anything else.

Every solver of :mod:`femeit.inverse.base` applies the model the same way: it
keeps the readings of the mask and multiplies the data and the Jacobian rows
by the whitening matrix ``W`` with ``W C W' = I`` (``W = L^-1`` for the
Cholesky factor ``C = L L'``; ``W = diag(1 / std)`` without correlation).  The
whitened noise then has unit variance per reading, so its expected norm is
``sqrt(m_used)``: the discrepancy principle uses that.

Estimators: :meth:`NoiseModel.from_frames` from repeated frames of the same
state, :meth:`NoiseModel.from_reference` from a single reference measurement
with an assumed relative accuracy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from femeit.errors import FemeitError


@dataclass(frozen=True, eq=False)
class Whitening:
    """The row transform a noise model prescribes for one data layout.

    Attributes
    ----------
    rows : ndarray of int, shape (m_used,)
        The readings kept (the mask's), in order.
    matrix : ndarray, shape (m_used,) or (m_used, m_used)
        ``W``: a vector of row weights ``1 / std`` (independent noise) or the
        lower-triangular ``L^-1`` (correlated noise).
    n_rows : int
        Number of readings of a full frame.
    """

    rows: np.ndarray
    matrix: np.ndarray
    n_rows: int

    @property
    def m(self) -> int:
        """Number of readings kept."""
        return len(self.rows)

    def data(self, dv: np.ndarray) -> np.ndarray:
        """Whitened data ``W dv[rows]``; dv shape (n_rows,) -> (m_used,).

        Missing readings may be NaN; kept readings must be finite.
        """
        dv = np.asarray(dv, dtype=float)
        if dv.shape != (self.n_rows,):
            raise FemeitError(f"a frame must hold {self.n_rows} readings, got shape {dv.shape}")
        kept = dv[self.rows]
        if not np.all(np.isfinite(kept)):
            bad = self.rows[~np.isfinite(kept)]
            raise FemeitError(
                f"readings {bad[:10].tolist()} are NaN or infinite; mark them missing in the noise model's mask"
            )
        return self._apply(kept)

    def jacobian(self, jac: np.ndarray) -> np.ndarray:
        """Whitened Jacobian rows ``W J[rows]``, shape (m_used, n_params)."""
        jac = np.asarray(jac, dtype=float)
        if jac.ndim != 2 or jac.shape[0] != self.n_rows:
            raise FemeitError(f"the Jacobian must have {self.n_rows} rows, got shape {jac.shape}")
        return self._apply(jac[self.rows])

    def _apply(self, a: np.ndarray) -> np.ndarray:
        if self.matrix.ndim == 1:
            return a * (self.matrix if a.ndim == 1 else self.matrix[:, None])
        return self.matrix @ a


def _nonnegative(name: str, value, n: int | None = None) -> np.ndarray:
    try:
        v = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise FemeitError(f"{name} must be a number or an array of numbers, got {value!r}") from None
    if not np.all(np.isfinite(v)):
        raise FemeitError(f"{name} must be finite, got NaN or infinite values")
    if np.any(v < 0):
        raise FemeitError(f"{name} must be non-negative (a standard deviation), got a minimum of {v.min():.3g}")
    if v.ndim > 1 or (n is not None and v.ndim == 1 and len(v) != n):
        raise FemeitError(f"{name} must be a scalar or hold one value per reading ({n}), got shape {v.shape}")
    return v


@dataclass(frozen=True, eq=False)
class NoiseModel:
    """Standard deviation, correlation and availability of every reading.

    Parameters
    ----------
    absolute : float or ndarray, shape (n_rows,)
        Additive standard deviation, V (the same units as the data).
    relative : float
        Standard deviation as a fraction of ``|reference_i|`` (0.01 for 1 %).
    correlation : ndarray, shape (n_rows, n_rows), optional
        Correlation matrix (symmetric, unit diagonal, positive definite on the
        kept readings); None for independent readings.
    mask : ndarray of bool, shape (n_rows,), optional
        True where the reading exists; None for all readings.

    Examples
    --------
    >>> noise = NoiseModel(absolute=1e-5, relative=0.005)
    >>> noise.std(np.array([1.0, 0.01]))      # doctest: +SKIP
    """

    absolute: float | np.ndarray = 0.0
    relative: float = 0.0
    correlation: np.ndarray | None = None
    mask: np.ndarray | None = None

    def __post_init__(self) -> None:
        absolute = _nonnegative("absolute noise std", self.absolute)
        relative = _nonnegative("relative noise std", self.relative)
        if relative.ndim != 0:
            raise FemeitError(f"relative noise std must be one number, got shape {relative.shape}")
        object.__setattr__(self, "absolute", absolute)
        object.__setattr__(self, "relative", float(relative))
        if self.mask is not None:
            mask = np.asarray(self.mask)
            if mask.ndim != 1 or mask.dtype != bool:
                raise FemeitError(f"mask must be a 1D array of booleans, got dtype {mask.dtype}, shape {mask.shape}")
            if not mask.any():
                raise FemeitError("the noise model's mask removes every reading: nothing to reconstruct from")
            object.__setattr__(self, "mask", mask)
        if self.correlation is not None:
            r = np.asarray(self.correlation, dtype=float)
            if r.ndim != 2 or r.shape[0] != r.shape[1] or not np.all(np.isfinite(r)):
                raise FemeitError(f"correlation must be a finite square matrix, got shape {r.shape}")
            if not np.allclose(r, r.T, atol=1e-12) or not np.allclose(np.diag(r), 1.0):
                raise FemeitError("correlation must be symmetric with a unit diagonal")
            object.__setattr__(self, "correlation", r)
        n = self._size()
        if n is not None:
            for name, arr in (("absolute noise std", absolute), ("mask", self.mask)):
                if arr is not None and np.ndim(arr) == 1 and len(arr) != n:
                    raise FemeitError(f"{name} has {len(arr)} values, the model {n} readings")

    def _size(self) -> int | None:
        for arr in (self.absolute if np.ndim(self.absolute) == 1 else None, self.mask, self.correlation):
            if arr is not None:
                return len(arr)
        return None

    def std(self, reference: np.ndarray | None = None, n_rows: int | None = None) -> np.ndarray:
        """Standard deviation per reading, shape (n_rows,), V.

        ``reference`` (shape (n_rows,)) is needed when ``relative > 0``.
        """
        if reference is not None:
            reference = np.asarray(reference, dtype=float)
            if reference.ndim != 1:
                raise FemeitError(f"the reference must be one frame, shape (n_rows,), got {reference.shape}")
            n_rows = len(reference) if n_rows is None else n_rows
        n_rows = self._size() if n_rows is None else n_rows
        if n_rows is None:
            raise FemeitError("the number of readings is unknown: give the reference or n_rows")
        size = self._size()
        if size is not None and size != n_rows:
            raise FemeitError(f"the noise model describes {size} readings, the data have {n_rows}")
        var = np.broadcast_to(self.absolute**2, (n_rows,)).astype(float)
        if self.relative > 0:
            if reference is None:
                raise FemeitError("a relative noise std needs the reference readings")
            if reference.shape != (n_rows,):
                raise FemeitError(f"the reference must hold {n_rows} readings, got shape {reference.shape}")
            var = var + (self.relative * np.abs(np.nan_to_num(reference))) ** 2
        return np.sqrt(var)

    def used(self, n_rows: int) -> np.ndarray:
        """Boolean mask of the readings kept, shape (n_rows,)."""
        if self.mask is None:
            return np.ones(n_rows, dtype=bool)
        if len(self.mask) != n_rows:
            raise FemeitError(f"the noise model's mask has {len(self.mask)} readings, the data {n_rows}")
        return self.mask

    def covariance(self, reference: np.ndarray | None = None, n_rows: int | None = None) -> np.ndarray:
        """Covariance of the kept readings, shape (m_used, m_used), V^2."""
        std = self.std(reference, n_rows)
        keep = self.used(len(std))
        std = std[keep]
        if self.correlation is None:
            return np.diag(std**2)
        return self.correlation[np.ix_(keep, keep)] * np.outer(std, std)

    def whitening(self, reference: np.ndarray | None = None, n_rows: int | None = None) -> Whitening:
        """The :class:`Whitening` of this model for frames of ``n_rows`` readings."""
        std = self.std(reference, n_rows)
        keep = self.used(len(std))
        rows = np.flatnonzero(keep)
        if np.any(std[rows] == 0) and self.correlation is None:
            zero = rows[std[rows] == 0]
            raise FemeitError(f"readings {zero[:10].tolist()} have zero noise std: give an absolute floor")
        if reference is not None and self.relative > 0 and not np.all(np.isfinite(np.asarray(reference)[rows])):
            raise FemeitError("the reference holds NaN or infinite values on readings the mask keeps")
        if self.correlation is None:
            return Whitening(rows, 1.0 / std[rows], len(std))
        cov = self.covariance(reference, len(std))
        try:
            chol = np.linalg.cholesky(cov)
        except np.linalg.LinAlgError:
            raise FemeitError("the noise covariance is not positive definite on the kept readings") from None
        import scipy.linalg as sla

        return Whitening(rows, sla.solve_triangular(chol, np.eye(len(rows)), lower=True), len(std))

    @classmethod
    def from_frames(cls, frames: np.ndarray, *, correlated: bool = False, mask: np.ndarray | None = None) -> NoiseModel:
        """Estimate the noise from repeated frames of one unchanged state.

        Parameters
        ----------
        frames : ndarray, shape (n_frames, n_rows)
            At least 2 frames; missing readings may be NaN if ``mask`` drops them.
        correlated : bool
            Also estimate the correlation matrix (needs more frames than
            readings to be positive definite; we shrink it towards the identity
            by the Ledoit-Wolf-style weight ``n_rows / (n_frames + n_rows)``,
            our choice, so it always is).
        mask : ndarray of bool, shape (n_rows,), optional

        Returns
        -------
        NoiseModel
            ``absolute`` = the sample standard deviation per reading (ddof 1),
            ``relative`` = 0.
        """
        f = np.asarray(frames, dtype=float)
        if f.ndim != 2 or f.shape[0] < 2:
            raise FemeitError(f"frames must have shape (n_frames >= 2, n_rows), got {f.shape}")
        keep = np.ones(f.shape[1], dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
        if keep.shape != (f.shape[1],):
            raise FemeitError(f"mask must hold {f.shape[1]} values, got shape {keep.shape}")
        if not np.all(np.isfinite(f[:, keep])):
            raise FemeitError("frames hold NaN or infinite values on readings the mask keeps")
        std = np.zeros(f.shape[1])
        std[keep] = f[:, keep].std(axis=0, ddof=1)
        if np.any(std[keep] == 0):
            raise FemeitError("some readings do not vary between the frames: they cannot be repeated measurements")
        std[~keep] = np.median(std[keep])  # never used: those readings are dropped
        correlation = None
        if correlated:
            r = np.eye(f.shape[1])
            r[np.ix_(keep, keep)] = np.corrcoef(f[:, keep], rowvar=False)
            w = f.shape[1] / (f.shape[0] + f.shape[1])
            correlation = (1 - w) * r + w * np.eye(f.shape[1])
        return cls(absolute=std, relative=0.0, correlation=correlation, mask=None if mask is None else keep)

    @classmethod
    def from_reference(
        cls, reference: np.ndarray, *, relative: float = 0.01, floor: float = 0.01, mask: np.ndarray | None = None
    ) -> NoiseModel:
        """A noise model from one reference measurement and an assumed accuracy.

        ``std_i = sqrt((relative |V_ref,i|)^2 + (floor mean|V_ref|)^2)``: a relative
        error plus a floor at ``floor`` times the mean reading, so the small
        readings of a frame (far from the current) are not trusted beyond the
        instrument's resolution.  NaN readings of the reference are missing.

        Parameters
        ----------
        reference : ndarray, shape (n_rows,)
            Measured reference readings, V.
        relative, floor : float
            Fractions (>= 0, not both zero).
        mask : ndarray of bool, shape (n_rows,), optional
            Readings to use; combined with the finite readings of ``reference``.
        """
        ref = np.asarray(reference, dtype=float)
        if ref.ndim != 1 or len(ref) == 0:
            raise FemeitError(f"the reference must be one frame, shape (n_rows,), got {ref.shape}")
        keep = np.isfinite(ref)
        if mask is not None:
            m = np.asarray(mask, dtype=bool)
            if m.shape != ref.shape:
                raise FemeitError(f"mask must hold {len(ref)} values, got shape {m.shape}")
            keep &= m
        if not keep.any():
            raise FemeitError("the reference has no finite reading on the mask: nothing to estimate the noise from")
        for name, v in (("relative", relative), ("floor", floor)):
            _nonnegative(name, v)
        if relative == 0 and floor == 0:
            raise FemeitError("relative and floor cannot both be zero")
        scale = float(np.abs(ref[keep]).mean())
        return cls(absolute=floor * scale, relative=relative, mask=None if keep.all() else keep)
