"""ERT data: electrode positions, (A, B, M, N) rows and named data columns.

:class:`ERTData` is what the readers of :mod:`femeit.ert.formats` return and
the writers take.  Electrode indices are 0-based; ``-1`` marks an unused
electrode (B or N of a pole array, index 0 in the unified data format).
Column names are lower case and follow the unified data format of BERT and
pyGIMLi: ``r`` (resistance, ohm), ``rhoa`` (apparent resistivity, ohm m),
``u`` (voltage, V), ``i`` (current, A), ``err`` (relative error, 1),
``k`` (geometric factor, m), ``ip`` (IP value), ``valid`` (0/1); other names
are kept as they are.  Values are in SI units: the readers convert the
``i/mA``, ``u/mV`` and ``err/%`` spellings.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from femeit.errors import FemeitError
from femeit.protocol import Protocol

__all__ = ["ERTData"]


@dataclass(frozen=True, eq=False)
class ERTData:
    """A data set of four-electrode readings.

    Attributes
    ----------
    sensors : ndarray, shape (L, 3)
        Electrode positions (x, y, z), m.  A profile has y = 0 and z the
        elevation (up positive).
    abmn : ndarray of int, shape (n_data, 4)
        0-based electrode indices; -1 for an unused electrode (at infinity).
    columns : dict of str to ndarray, shape (n_data,)
        Data columns (see the module docstring for names and units).
    sensor_columns : tuple of str
        Which of x, y, z the source file gave (kept for writing it back).
    """

    sensors: np.ndarray
    abmn: np.ndarray
    columns: dict[str, np.ndarray] = field(default_factory=dict)
    sensor_columns: tuple[str, ...] = ("x", "y", "z")

    def __post_init__(self) -> None:
        sensors = np.asarray(self.sensors, dtype=float)
        if sensors.ndim != 2 or sensors.shape[1] != 3:
            raise FemeitError(f"sensors must have shape (L, 3) (x, y, z), got {sensors.shape}")
        if not np.all(np.isfinite(sensors)):
            raise FemeitError("sensor positions must be finite (an unused electrode is index -1, not a position)")
        abmn = np.asarray(self.abmn)
        if abmn.ndim != 2 or abmn.shape[1] != 4:
            raise FemeitError(f"abmn must have shape (n_data, 4), got {abmn.shape}")
        abmn = abmn.astype(np.int64)
        L = len(sensors)
        if abmn.size and (abmn.min() < -1 or abmn.max() >= L):
            raise FemeitError(f"abmn names electrodes outside 0..{L - 1} (or -1 for unused)")
        if np.any((abmn[:, 0] < 0) & (abmn[:, 1] < 0)) or np.any((abmn[:, 2] < 0) & (abmn[:, 3] < 0)):
            raise FemeitError("a reading needs at least one current and one potential electrode")
        cols = {}
        for name, values in self.columns.items():
            v = np.asarray(values, dtype=float)
            if v.shape != (len(abmn),):
                raise FemeitError(f"column {name!r} has shape {v.shape}, expected ({len(abmn)},)")
            cols[str(name).lower()] = v
        object.__setattr__(self, "sensors", sensors)
        object.__setattr__(self, "abmn", abmn)
        object.__setattr__(self, "columns", cols)
        object.__setattr__(self, "sensor_columns", tuple(self.sensor_columns))

    @property
    def n_data(self) -> int:
        """Number of readings."""
        return len(self.abmn)

    @property
    def n_sensors(self) -> int:
        """Number of electrodes L (not counting the remote one)."""
        return len(self.sensors)

    @property
    def has_remote(self) -> bool:
        """True when some reading uses an electrode at infinity (a pole array)."""
        return bool(np.any(self.abmn < 0))

    def positions(self) -> np.ndarray:
        """Electrode positions as the protocol numbers them, shape (L, 3) or (L + 1, 3).

        With pole readings the remote electrode (index L) is appended at
        ``(inf, inf, inf)`` (the convention of :mod:`femeit.ert.arrays`).
        """
        if not self.has_remote:
            return self.sensors.copy()
        return np.vstack([self.sensors, np.full((1, 3), np.inf)])

    def protocol(self, current: float | np.ndarray = 1.0) -> Protocol:
        """The readings as a :class:`~femeit.protocol.Protocol` (remote electrode = index L).

        Parameters
        ----------
        current : float or ndarray, shape (n_data,)
            Current of each reading, A (default 1 A: voltages are resistances).
        """
        L = self.n_sensors
        table = np.where(self.abmn < 0, L, self.abmn)
        return Protocol.from_abmn(table, L + int(self.has_remote), current)

    def resistances(self) -> np.ndarray:
        """Transfer resistances, ohm: ``r``, else ``u / i``, else ``rhoa / k``.

        Raises
        ------
        FemeitError
            When the file has none of these.
        """
        c = self.columns
        if "r" in c:
            return c["r"].copy()
        if "u" in c and "i" in c:
            return c["u"] / c["i"]
        if "rhoa" in c and "k" in c:
            return c["rhoa"] / c["k"]
        raise FemeitError(
            f"no resistance in this data set (columns {sorted(c)}); it needs r, or u and i, or rhoa and k "
            "(for rhoa alone compute k with femeit.ert.geometric_factor)"
        )

    def with_columns(self, **columns: np.ndarray) -> ERTData:
        """A copy with columns added or replaced."""
        return ERTData(self.sensors, self.abmn, {**self.columns, **columns}, self.sensor_columns)

    def profile(self) -> np.ndarray:
        """The sensors as (x, z) for a 2D profile, shape (L, 2).

        Raises
        ------
        FemeitError
            When the sensors are not on a line in the x-z plane (y not all zero).
        """
        if np.any(self.sensors[:, 1] != 0):
            raise FemeitError("the sensors are not a profile in the x-z plane (their y are not all zero)")
        return self.sensors[:, [0, 2]].copy()
