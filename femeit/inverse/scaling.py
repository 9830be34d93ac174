"""Named data and parameter scalings applied by solvers, so none is hidden in a closure.

* :class:`RelativeData` - rows divided by the reference reading: data
  ``(v - v0) / v0`` and sensitivity ``J / v0`` (Gasulla & Pallas-Areny, IEEE
  Sensors J. 5 (2005), eqs. 24-25): every reading weighs the same relative
  change.  It is the whitening of a purely relative noise model.
* :class:`ColumnNormalisation` - each column divided by its sum over the
  readings (Li et al., "A fast Barzilai-Borwein gradient projection for
  sparse reconstruction algorithm based on 3D modeling: application to ERT
  imaging", IEEE Access 9 (2021), eq. 7): ``S_N = S / d``, image
  ``x = x_N / d``; we use ``d_j = sum_i |S_ij|`` (eq. 7 sums signed entries,
  which change sign with an adjacent protocol; see
  :func:`femeit.inverse.gpsr.column_normalize`).

Each transform names itself (``name``) so a :class:`~femeit.inverse.base.Reconstruction`
can list the ones applied.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from femeit.errors import FemeitError


@dataclass(frozen=True, eq=False)
class RelativeData:
    """Row scaling by ``1 / v0``: relative data and the matching sensitivity.

    Parameters
    ----------
    reference : ndarray, shape (m,)
        Reference readings v0, V (finite, non-zero).
    """

    reference: np.ndarray
    name: str = "relative data (v - v0) / v0, Gasulla 2005 eqs. 24-25"

    def __post_init__(self) -> None:
        v0 = np.asarray(self.reference, dtype=float)
        if v0.ndim != 1 or not np.all(np.isfinite(v0)) or np.any(v0 == 0):
            raise FemeitError("relative data need finite, non-zero reference readings, one per row")
        object.__setattr__(self, "reference", v0)

    def rows(self, jac: np.ndarray) -> np.ndarray:
        """``J / v0[:, None]``, shape (m, n)."""
        return jac / self.reference[:, None]

    def data(self, dv: np.ndarray) -> np.ndarray:
        """``dv / v0``, shape (m,)."""
        return dv / self.reference


@dataclass(frozen=True, eq=False)
class ColumnNormalisation:
    """Column scaling of KGPSR-BB eq. 7: solve for ``x_N = d * x`` with ``S_N = S / d``.

    Build with :meth:`of`.  Attributes: ``d`` (n,) the positive column sums of ``|S|``.
    """

    d: np.ndarray
    name: str = "column normalisation S / sum|S|, Li et al. 2021 eq. 7"

    @classmethod
    def of(cls, jac: np.ndarray) -> ColumnNormalisation:
        """The normalisation of the (whitened) sensitivity ``jac``, shape (m, n)."""
        from femeit.inverse.gpsr import column_normalize

        return cls(column_normalize(jac)[1])

    def columns(self, jac: np.ndarray) -> np.ndarray:
        """``S / d``, shape (m, n)."""
        return jac / self.d

    def image(self, x_n: np.ndarray) -> np.ndarray:
        """Back to the original parameters: ``x = x_N / d``."""
        return x_n / self.d
