"""Measurement protocols: which currents are injected and which voltages are read.

A :class:`Protocol` is a list of measurement rows.  Row ``i`` applies the
current pattern ``injections[row_injection[i]]`` (amperes per electrode, summing
to zero) and reads ``measurements[i] @ U``, with ``U`` the electrode potentials.
For the usual four-electrode row (A, B, M, N), the pattern is ``+I`` into A and
``-I`` out of B and the measurement is ``U[M] - U[N]``; :attr:`Protocol.abmn`
keeps those indices when every row is of that form.

Electrodes are 0-based.  Constructors follow the conventions of the papers
they cite; where a paper numbers electrodes from 1, the docstring says so.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from femeit.errors import FemeitError

PROTOCOL_NAMES = ("adjacent", "opposite", "dipole_dipole", "schlumberger", "wenner")
"""Single-ring names :meth:`Protocol.by_name` accepts (each also a constructor of :class:`Protocol`)."""

RING_PATTERNS = ("in_ring", "planar", "cross_ring", "zigzag")
"""Multi-ring patterns of :meth:`Protocol.multi_ring`, also accepted by :meth:`Protocol.by_name`."""

ALL_PROTOCOL_NAMES = PROTOCOL_NAMES + RING_PATTERNS
"""Every name :meth:`Protocol.by_name` accepts (the CLI's ``--protocol`` and the dataset configs use these)."""


@dataclass(frozen=True, eq=False)
class Protocol:
    """A measurement protocol on ``n_electrodes`` electrodes.

    Attributes
    ----------
    n_electrodes : int
        Number of electrodes L.
    injections : ndarray, shape (n_injections, L)
        Current patterns, A per electrode; each row sums to zero.
    row_injection : ndarray of int, shape (n_rows,)
        The current pattern of each measurement row.
    measurements : ndarray, shape (n_rows, L)
        Measurement weights: the row reads ``measurements[i] @ U``.
    abmn : ndarray of int, shape (n_rows, 4), or None
        (A, B, M, N) of each row, when every row is a two-electrode drive and a
        two-electrode reading.
    """

    n_electrodes: int
    injections: np.ndarray
    row_injection: np.ndarray
    measurements: np.ndarray
    abmn: np.ndarray | None = None

    def __post_init__(self) -> None:
        L = self.n_electrodes
        inj = np.atleast_2d(np.asarray(self.injections, dtype=float))
        meas = np.atleast_2d(np.asarray(self.measurements, dtype=float))
        rows = np.asarray(self.row_injection, dtype=np.int64).ravel()
        if inj.shape[1] != L or meas.shape[1] != L:
            raise FemeitError(
                f"protocol patterns must have {L} columns (one per electrode), got injections {inj.shape} "
                f"and measurements {meas.shape}"
            )
        if len(rows) != len(meas):
            raise FemeitError(f"row_injection has {len(rows)} entries but there are {len(meas)} measurement rows")
        if len(rows) == 0:
            raise FemeitError("a protocol needs at least one measurement row")
        if rows.min() < 0 or rows.max() >= len(inj):
            raise FemeitError(f"row_injection refers to patterns outside 0..{len(inj) - 1}")
        if not (np.all(np.isfinite(inj)) and np.all(np.isfinite(meas))):
            raise FemeitError("protocol patterns contain NaN or infinite values")
        scale = np.abs(inj).max(axis=1)
        if np.any(scale == 0):
            raise FemeitError("a current pattern injects no current")
        if np.any(np.abs(inj.sum(axis=1)) > 1e-9 * scale):
            bad = int(np.flatnonzero(np.abs(inj.sum(axis=1)) > 1e-9 * scale)[0])
            raise FemeitError(f"current pattern {bad} does not sum to zero (Kirchhoff): {inj[bad].sum():.3g} A")
        object.__setattr__(self, "injections", inj)
        object.__setattr__(self, "measurements", meas)
        object.__setattr__(self, "row_injection", rows)
        if self.abmn is not None:
            object.__setattr__(self, "abmn", np.asarray(self.abmn, dtype=np.int64).reshape(-1, 4))

    # ----------------------------------------------------------------- views
    @property
    def n_rows(self) -> int:
        """Number of measurement rows."""
        return len(self.row_injection)

    def __len__(self) -> int:
        return self.n_rows

    def reciprocal_pairs(self) -> np.ndarray:
        """Pairs of rows (i, j), i < j, that are reciprocal: (A, B, M, N) and (M, N, A, B).

        By reciprocity both rows read the same transfer impedance (up to the sign
        conventions of the two pairs, which match here).  Only defined for (A, B, M, N) protocols.

        Returns
        -------
        ndarray of int, shape (n_pairs, 2)
        """
        if self.abmn is None:
            raise FemeitError("reciprocal rows are defined only for (A, B, M, N) protocols")
        index = {tuple(r): i for i, r in enumerate(self.abmn.tolist())}
        pairs = []
        for i, (a, b, m, n) in enumerate(self.abmn.tolist()):
            j = index.get((m, n, a, b))
            if j is not None and i < j:
                pairs.append((i, j))
        return np.array(pairs, dtype=np.int64).reshape(-1, 2)

    def reciprocal_unique_rows(self) -> np.ndarray:
        """Indices of the rows that remain after dropping the second row of each reciprocal pair."""
        drop = set(self.reciprocal_pairs()[:, 1].tolist())
        return np.array([i for i in range(self.n_rows) if i not in drop], dtype=np.int64)

    def to_eim(self, values: np.ndarray) -> np.ndarray:
        """Arrange adjacent-protocol data as an electrical impedance map (EIM).

        The value measured between (j, j+1) while driving (i, i+1) goes to row
        i, column j of an L x L map; entries that involve a driving electrode are 0
        (the electrical impedance maps of the CNN-EIM paper).

        Parameters
        ----------
        values : ndarray, shape (..., n_rows)
            Data in protocol row order.

        Returns
        -------
        ndarray, shape (..., L, L)
        """
        if self.abmn is None:
            raise FemeitError("the EIM view needs an (A, B, M, N) protocol")
        L = self.n_electrodes
        a, b, m, n = self.abmn.T
        if not (np.all(b == (a + 1) % L) and np.all(n == (m + 1) % L)):
            raise FemeitError("the EIM view needs adjacent drive and adjacent measurement (skip 0)")
        values = np.asarray(values)
        if values.shape[-1] != self.n_rows:
            raise FemeitError(f"data has {values.shape[-1]} values per frame, the protocol {self.n_rows} rows")
        out = np.zeros((*values.shape[:-1], L, L), dtype=values.dtype)
        out[..., a, m] = values
        return out

    # ---------------------------------------------------------- constructors
    @classmethod
    def from_abmn(cls, abmn: Iterable, n_electrodes: int, current: float | np.ndarray = 1.0) -> Protocol:
        """A protocol from (A, B, M, N) rows (0-based electrodes).

        Parameters
        ----------
        abmn : array_like of int, shape (n_rows, 4)
        n_electrodes : int
            Number of electrodes L.
        current : float or ndarray, shape (n_rows,)
            Injected current of each row, A (default 1 A, so voltages are transfer impedances).
        """
        table = np.asarray(list(abmn) if not isinstance(abmn, np.ndarray) else abmn)
        if table.ndim != 2 or table.shape[1] != 4:
            raise FemeitError(f"an ABMN table must have shape (n_rows, 4), got {table.shape}")
        if table.dtype.kind not in "iuf":
            raise FemeitError(f"ABMN electrode indices must be whole numbers, got {table.dtype} values")
        if not np.issubdtype(table.dtype, np.integer):
            if not np.all(np.isfinite(table)) or not np.all(np.mod(table, 1) == 0):
                raise FemeitError("ABMN electrode indices must be whole numbers")
            table = table.astype(np.int64)
        if table.size and (table.min() < 0 or table.max() >= n_electrodes):
            raise FemeitError(
                f"ABMN rows name electrodes outside 0..{n_electrodes - 1} "
                f"(found {table.min()}..{table.max()}); indices are 0-based"
            )
        if np.any(table[:, 0] == table[:, 1]):
            raise FemeitError("an ABMN row drives current between an electrode and itself (A == B)")
        if np.any(table[:, 2] == table[:, 3]):
            raise FemeitError("an ABMN row measures between an electrode and itself (M == N)")
        current = np.asarray(current)
        if current.dtype.kind not in "iuf" or current.ndim > 1 or current.size not in (1, len(table)):
            raise FemeitError(
                f"current must be a number or one real number per ABMN row ({len(table)}), "
                f"got {current.dtype} of shape {current.shape}"
            )
        if not np.all(np.isfinite(current)) or np.any(current == 0):
            raise FemeitError("current must be finite and non-zero")
        currents = np.broadcast_to(current.astype(float).ravel() if current.ndim else current, (len(table),))
        keys = [(int(a), int(b), float(c)) for (a, b, _, _), c in zip(table, currents, strict=True)]
        unique = list(dict.fromkeys(keys))
        where = {k: i for i, k in enumerate(unique)}
        injections = np.zeros((len(unique), n_electrodes))
        for i, (a, b, c) in enumerate(unique):
            injections[i, a] += c
            injections[i, b] -= c
        measurements = np.zeros((len(table), n_electrodes))
        rows = np.arange(len(table))
        measurements[rows, table[:, 2]] += 1.0
        measurements[rows, table[:, 3]] -= 1.0
        return cls(n_electrodes, injections, np.array([where[k] for k in keys]), measurements, table)

    @classmethod
    def from_patterns(cls, currents: np.ndarray, meas_patterns: np.ndarray) -> Protocol:
        """Every measurement pattern read under every current pattern (injection-major).

        This is the layout of the KTC2023 files: ``Inj`` (L x n_inj) and ``Mpat``
        (L x n_meas) with data of length n_inj * n_meas.  Note the orientation:
        electrodes run along the first axis, as in those files.

        Parameters
        ----------
        currents : ndarray, shape (L, n_injections)
            Current per electrode of each pattern, A.
        meas_patterns : ndarray, shape (L, n_measurements)
            Weights per electrode of each voltage reading.
        """
        currents = np.asarray(currents, dtype=float)
        meas_patterns = np.asarray(meas_patterns, dtype=float)
        if currents.ndim != 2 or meas_patterns.ndim != 2 or currents.shape[0] != meas_patterns.shape[0]:
            raise FemeitError(
                "from_patterns needs currents (L, n_injections) and meas_patterns (L, n_measurements) "
                f"with the same L, got {currents.shape} and {meas_patterns.shape}"
            )
        n_inj, n_meas = currents.shape[1], meas_patterns.shape[1]
        rows = np.repeat(np.arange(n_inj), n_meas)
        measurements = np.tile(meas_patterns.T, (n_inj, 1))
        return cls(currents.shape[0], currents.T, rows, measurements)

    @classmethod
    def by_name(cls, name: str, n_electrodes: int, current: float = 1.0, rings=None) -> Protocol:
        """The named standard protocol on ``n_electrodes`` electrodes: the one protocol dispatcher.

        Parameters
        ----------
        name : str
            One of :data:`PROTOCOL_NAMES`: ``adjacent``, ``opposite``, ``dipole_dipole``,
            ``schlumberger``, ``wenner``, or a multi-ring pattern of
            :meth:`multi_ring` (``in_ring``, ``planar``, ``cross_ring``, ``zigzag``).
        n_electrodes : int
            Number of electrodes L of the sensor.
        current : float
            Injected current, A.
        rings : sequence of int, optional
            Electrodes per ring, numbered ring by ring (multi-ring patterns only;
            default one ring of all electrodes).

        Returns
        -------
        Protocol
            With ``n_electrodes`` electrodes.

        Raises
        ------
        FemeitError
            For an unknown name, or an electrode count the protocol cannot use.
        """
        if name in RING_PATTERNS:
            sizes = [int(n_electrodes)] if rings is None else [int(r) for r in rings]
            if sum(sizes) != n_electrodes:
                raise FemeitError(f"the rings {sizes} hold {sum(sizes)} electrodes, the sensor {n_electrodes}")
            return cls.multi_ring(sizes, name, current=current)
        builders = {
            "adjacent": cls.adjacent,
            "opposite": cls.opposite,
            "dipole_dipole": cls.dipole_dipole,
            "schlumberger": cls.schlumberger,
            "wenner": cls.wenner,
        }
        if name not in builders:
            raise FemeitError(f"unknown protocol {name!r}; choose one of {', '.join(ALL_PROTOCOL_NAMES)}")
        if isinstance(n_electrodes, bool) or not isinstance(n_electrodes, int | np.integer):
            raise FemeitError(f"n_electrodes must be an integer, got {n_electrodes!r}")
        return builders[name](int(n_electrodes), current=current)

    @classmethod
    def adjacent(
        cls, n_electrodes: int, skip: int = 0, *, exclude_current_electrodes: bool = True, current: float = 1.0
    ) -> Protocol:
        """Drive (i, i + 1 + skip) and read (j, j + 1 + skip) for every i and j.

        Parameters
        ----------
        n_electrodes : int
            L electrodes on a closed ring.
        skip : int
            Electrodes skipped between the two of a pair (0: adjacent; L/2 - 1: opposite).
        exclude_current_electrodes : bool
            Leave out readings that touch a current-carrying electrode (the
            usual choice; with 16 electrodes and skip 0 this leaves 208 rows).
        current : float
            Injected current, A.
        """
        L = int(n_electrodes)
        if L < 4:
            raise FemeitError(f"an adjacent protocol needs at least 4 electrodes, got {L}")
        if not 0 <= skip < L - 1:
            raise FemeitError(f"skip must lie in 0..{L - 2}, got {skip}")
        step = skip + 1
        rows = []
        for i in range(L):
            a, b = i, (i + step) % L
            for j in range(L):
                m, n = j, (j + step) % L
                if exclude_current_electrodes and {m, n} & {a, b}:
                    continue
                rows.append((a, b, m, n))
        return cls.from_abmn(np.array(rows), L, current)

    @classmethod
    def opposite(cls, n_electrodes: int, **kwargs) -> Protocol:
        """Drive diametrically opposite electrodes, read adjacent pairs (L even)."""
        L = int(n_electrodes)
        if L % 2:
            raise FemeitError(f"the opposite protocol needs an even number of electrodes, got {L}")
        current = kwargs.pop("current", 1.0)
        exclude = kwargs.pop("exclude_current_electrodes", True)
        if kwargs:
            raise TypeError(f"unexpected arguments {sorted(kwargs)}")
        rows = []
        for i in range(L // 2):
            a, b = i, i + L // 2
            for j in range(L):
                m, n = j, (j + 1) % L
                if exclude and {m, n} & {a, b}:
                    continue
                rows.append((a, b, m, n))
        return cls.from_abmn(np.array(rows), L, current)

    @classmethod
    def dipole_dipole(cls, n_electrodes: int = 16, current: float = 1.0) -> Protocol:
        """Dipole-dipole array of Gasulla & Pallas-Areny (IEEE Sensors J. 2005, section IV).

        In the paper's 1-based numbering: drive (1, 2) .. (13, 14), each read on
        every adjacent pair to its right, (k+2, k+3) .. (15, 16): 91 rows; then
        drive (16, 1) and read (2, 3) .. (14, 15): 13 rows.  104 rows for 16 electrodes.
        """
        L = int(n_electrodes)
        if L < 5:
            raise FemeitError(f"dipole-dipole needs at least 5 electrodes, got {L}")
        rows = [(k, k + 1, m, m + 1) for k in range(L - 3) for m in range(k + 2, L - 1)]
        rows += [(L - 1, 0, m, m + 1) for m in range(1, L - 2)]
        return cls.from_abmn(np.array(rows), L, current)

    @classmethod
    def schlumberger(cls, n_electrodes: int = 16, current: float = 1.0) -> Protocol:
        """Modified Schlumberger array of Gasulla & Pallas-Areny (IEEE Sensors J. 2005, section IV).

        In the paper's 1-based numbering: drive (k, 16) for k = 1..13 and read
        every adjacent pair of internal electrodes (k+1, k+2) .. (14, 15): 91 rows;
        drive (1, 15) and read (2, 3) .. (13, 14): 12 rows; drive (3, 16) and read
        (1, 2): 1 row.  104 rows for 16 electrodes.
        """
        L = int(n_electrodes)
        if L < 5:
            raise FemeitError(f"the Schlumberger array needs at least 5 electrodes, got {L}")
        last = L - 1
        rows = [(k, last, m, m + 1) for k in range(L - 3) for m in range(k + 1, last - 1)]
        rows += [(0, last - 1, m, m + 1) for m in range(1, last - 2)]
        rows += [(2, last, 0, 1)]
        return cls.from_abmn(np.array(rows), L, current)

    @classmethod
    def wenner(cls, n_electrodes: int, current: float = 1.0) -> Protocol:
        """Wenner-alpha array on a line: (A, M, N, B) = (i, i+a, i+2a, i+3a) for every spacing a."""
        L = int(n_electrodes)
        if L < 4:
            raise FemeitError(f"a Wenner array needs at least 4 electrodes, got {L}")
        rows = [(i, i + 3 * a, i + a, i + 2 * a) for a in range(1, L) for i in range(L - 3 * a)]
        return cls.from_abmn(np.array(rows), L, current)

    @classmethod
    def multi_ring(
        cls,
        ring_sizes,
        pattern: str = "in_ring",
        skip: int = 0,
        *,
        meas_current: bool = False,
        current: float = 1.0,
    ) -> Protocol:
        """Pair-drive, pair-read protocols for electrodes in several rings (numbered ring by ring).

        The patterns follow the families of EIDORS's ``mk_stim_patterns`` for
        several rings and of Wagenaar & Adler, "Electrical impedance tomography
        in 3D using two electrode planes: characterization and evaluation",
        Physiol. Meas. 37 (2016) 922-937 (planar and zig-zag arrangements).
        Electrode k of ring r is ``sum(ring_sizes[:r]) + k``; a *pair* is two
        electrodes ``step = skip + 1`` apart along the pattern's chain:

        ``in_ring``
            pairs ((r, k), (r, k + step)) on every ring; every drive pair is read
            with every pair of every ring (EIDORS's adjacent drive on each ring
            with measurements on all rings).
        ``planar``
            the same pairs, but each drive is read only on its own ring (each
            ring an independent 2D protocol).
        ``cross_ring``
            pairs ((r, k), (r + 1, k + step)) between neighbouring rings (the
            current crosses between the rings; equal ring sizes).
        ``zigzag``
            pairs ``step`` apart along the chain (0, 0), (1, 0), ..., (R-1, 0),
            (0, 1), (1, 1), ... that visits the rings in turn (equal ring sizes).

        Rows are drive-major, in the order of the pairs; a reading that uses a
        current-carrying electrode is left out unless ``meas_current``.

        Parameters
        ----------
        ring_sizes : sequence of int
            Electrodes per ring.
        pattern : {"in_ring", "planar", "cross_ring", "zigzag"}
        skip : int
            Electrodes skipped between the two of a pair (0: adjacent).
        meas_current : bool
            Keep readings on current-carrying electrodes.
        current : float
            Injected current, A.
        """
        sizes = [int(n) for n in ring_sizes]
        if not sizes or min(sizes) < 2:
            raise FemeitError(f"multi-ring protocols need rings of at least 2 electrodes, got {sizes}")
        if pattern not in RING_PATTERNS:
            raise FemeitError(f"unknown ring pattern {pattern!r}; choose one of {', '.join(RING_PATTERNS)}")
        if isinstance(skip, bool) or not isinstance(skip, int | np.integer) or skip < 0:
            raise FemeitError(f"skip must be a whole number >= 0, got {skip!r}")
        step = int(skip) + 1
        first = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        R = len(sizes)
        if pattern in ("cross_ring", "zigzag"):
            if R < 2:
                raise FemeitError(f"the {pattern} pattern needs at least 2 rings, got one ring of {sizes[0]}")
            if len(set(sizes)) != 1:
                raise FemeitError(f"the {pattern} pattern needs rings of equal size, got {sizes}")
        ring_of = []
        if pattern in ("in_ring", "planar"):
            if any(step >= n for n in sizes):
                raise FemeitError(f"skip {skip} does not fit rings of {sizes} electrodes")
            pairs = np.concatenate(
                [
                    np.stack([first[r] + np.arange(n), first[r] + (np.arange(n) + step) % n], axis=1)
                    for r, n in enumerate(sizes)
                ]
            )
            ring_of = np.repeat(np.arange(R), sizes)
        elif pattern == "cross_ring":
            n = sizes[0]
            k = np.arange(n)
            pairs = np.concatenate(
                [np.stack([first[r] + k, first[r + 1] + (k + step) % n], axis=1) for r in range(R - 1)]
            )
        else:
            n = sizes[0]
            chain = (first[None, :] + np.arange(n)[:, None]).ravel()  # k-major: (0,0), (1,0), ...
            if step >= len(chain):
                raise FemeitError(f"skip {skip} does not fit a chain of {len(chain)} electrodes")
            pairs = np.stack([chain, np.roll(chain, -step)], axis=1)
        d, m = np.meshgrid(np.arange(len(pairs)), np.arange(len(pairs)), indexing="ij")
        d, m = d.ravel(), m.ravel()
        keep = np.ones(len(d), dtype=bool)
        if pattern == "planar":
            keep &= ring_of[d] == ring_of[m]
        if not meas_current:
            a, b = pairs[d], pairs[m]
            keep &= ~((a[:, :1] == b).any(axis=1) | (a[:, 1:] == b).any(axis=1))
        table = np.concatenate([pairs[d[keep]], pairs[m[keep]]], axis=1)
        return cls.from_abmn(table, sum(sizes), current)

    @classmethod
    def from_file(cls, path, n_electrodes: int, current: float = 1.0) -> Protocol:
        """A protocol from a file: a CSV table of A,B,M,N rows or an NPZ of pattern matrices.

        Parameters
        ----------
        path : str or Path
            ``.csv`` (any suffix but ``.npz``): one A,B,M,N row per reading (0-based electrodes, comma
            separated, ``#`` comments).  ``.npz``: either ``abmn`` (n_rows, 4), or
            ``injections`` (n_injections, L, A per electrode), ``measurements``
            (n_rows, L) and optionally ``row_injection`` (n_rows,; default: every
            measurement under every injection, injection-major).
        n_electrodes : int
            Number of electrodes L of the sensor.
        current : float
            Injected current of the ABMN rows, A (NPZ patterns carry their own amperes).
        """
        from pathlib import Path

        path = Path(path)
        if not path.is_file():
            raise FemeitError(f"protocol file not found: {path}")
        if path.suffix.lower() != ".npz":  # a text table (.csv, .txt...)
            try:
                table = np.loadtxt(path, delimiter=",", ndmin=2, comments="#")
            except (OSError, ValueError) as exc:
                raise FemeitError(f"cannot read the ABMN table {path}: {exc}") from None
            return cls.from_abmn(table, n_electrodes, current)
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {k: data[k] for k in data.files}
        except (OSError, ValueError) as exc:
            raise FemeitError(f"cannot read the protocol file {path}: {exc}") from None
        if "abmn" in arrays:
            return cls.from_abmn(arrays["abmn"], n_electrodes, current)
        if "injections" not in arrays or "measurements" not in arrays:
            raise FemeitError(f"{path} must hold 'abmn', or 'injections' and 'measurements'; found {sorted(arrays)}")
        inj, meas = np.atleast_2d(arrays["injections"]), np.atleast_2d(arrays["measurements"])
        if "row_injection" in arrays:
            return cls(n_electrodes, inj, arrays["row_injection"], meas)
        rows = np.repeat(np.arange(len(inj)), len(meas))
        return cls(n_electrodes, inj, rows, np.tile(meas, (len(inj), 1)))
