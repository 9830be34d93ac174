"""Readers and writers for ERT data files.

Unified data format (BERT / pyGIMLi; extensions ``.ohm``, ``.dat``, ``.shm``,
``.data``), as written by those programs and described in the BERT tutorial
(Günther & Rücker, *Boundless Electrical Resistivity Tomography, BERT 2 - the
user tutorial*, the appendix on the unified data format)::

    <L>            # number of sensors (anything after '#' is a comment)
    # x z          (column header: any of x, y, z; default x z for two columns, x y z for three)
    <L sensor lines>
    <n>            # number of data
    # a b m n r    (column header: a b m n and any data columns)
    <n data lines>
    [<t>           # optional topography points, then t lines of positions]

Electrode indices in the file are **1-based**; 0 means "not used" (a pole at
infinity) and becomes -1 in :class:`~femeit.ert.data.ERTData`.  Headers may
give units after a slash: ``i/mA``, ``u/mV``, ``err/%`` are converted to A, V
and a fraction.

Res2DInv general array format (Loke, *RES2DINV ver. 4 manual*, Geotomo
Software, section "general array")::

    <title>
    <unit electrode spacing>
    11                          (array type: general array; the only type read here)
    <sub-array type>
    Type of measurement (0=app. resistivity,1=resistance)
    <0 or 1>
    <n data>
    <type of x-location>        (1 here: true horizontal positions)
    <IP flag>                   (1: three lines follow: IP name, unit, timing)
    <k> x1 z1 .. xk zk value [ip]   (k = 4: C1 C2 P1 P2; 3: C1 P1 P2; 2: C1 P1)
    ...
    0 0 0 0                     (trailing zeros / topography block, ignored)

Electrodes are identified by their (x, z) on the data rows and numbered by
increasing x.  A separate topography list after the rows is not used (z is
taken from the rows); files whose rows give ground distances with a separate
topography list are read with z = the row values.

Malformed files raise :class:`~femeit.errors.FemeitError` naming the file and
the line (1-based) with the problem: wrong counts, missing columns, indices out
of range, values that are not numbers.  Writers refuse to overwrite an existing
file unless asked to.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from femeit.errors import FemeitError
from femeit.ert.data import ERTData

__all__ = ["read_res2dinv", "read_unified", "write_res2dinv", "write_unified"]

_UNITS = {
    ("i", "a"): 1.0,
    ("i", "ma"): 1e-3,
    ("i", "ua"): 1e-6,
    ("u", "v"): 1.0,
    ("u", "mv"): 1e-3,
    ("u", "uv"): 1e-6,
    ("err", "%"): 1e-2,
    ("err", "1"): 1.0,
    ("r", "ohm"): 1.0,
    ("rhoa", "ohmm"): 1.0,
    ("k", "m"): 1.0,
}


class _Lines:
    """The meaningful lines of a file, each with its 1-based line number and comment."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        try:
            text = self.path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            raise FemeitError(f"no such data file: {self.path}") from None
        except IsADirectoryError:
            raise FemeitError(f"{self.path} is a directory, not a data file") from None
        self.raw = text.splitlines()
        self.pos = 0

    def error(self, lineno: int | None, message: str) -> FemeitError:
        where = f"line {lineno}" if lineno is not None else "end of file"
        return FemeitError(f"{self.path.name}, {where}: {message}")

    def next_body(self, what: str) -> tuple[int, list[str], list[str]]:
        """The next line with content before '#': (line number, its tokens, header tokens seen just before)."""
        header: list[str] = []
        while self.pos < len(self.raw):
            line = self.raw[self.pos]
            self.pos += 1
            body, _, comment = line.partition("#")
            tokens = body.replace(",", " ").split()
            if tokens:
                return self.pos, tokens, header
            if comment.strip():
                header = comment.split()
        raise self.error(None, f"the file ends where {what} was expected")

    def rest(self) -> list[tuple[int, list[str]]]:
        out = []
        while self.pos < len(self.raw):
            self.pos += 1
            tokens = self.raw[self.pos - 1].partition("#")[0].replace(",", " ").split()
            if tokens:
                out.append((self.pos, tokens))
        return out


def _count(lines: _Lines, lineno: int, tokens: list[str], what: str) -> int:
    if len(tokens) != 1:
        raise lines.error(lineno, f"expected the number of {what} alone on the line, found {' '.join(tokens)!r}")
    try:
        value = float(tokens[0])
    except ValueError:
        raise lines.error(lineno, f"the number of {what} is not a number: {tokens[0]!r}") from None
    if not value.is_integer() or value < 0:
        raise lines.error(lineno, f"the number of {what} must be a whole number >= 0, got {tokens[0]!r}")
    return int(value)


def _numbers(lines: _Lines, lineno: int, tokens: list[str], names: list[str], what: str) -> list[float]:
    if len(tokens) != len(names):
        raise lines.error(
            lineno, f"{what} has {len(tokens)} values but the header names {len(names)} ({' '.join(names)})"
        )
    out = []
    for tok, name in zip(tokens, names, strict=True):
        try:
            out.append(float(tok))
        except ValueError:
            raise lines.error(lineno, f"{what}: {name} = {tok!r} is not a number") from None
    return out


def _data_header(lines: _Lines, lineno: int, header: list[str]) -> tuple[list[str], np.ndarray]:
    names, factors = [], []
    for token in header:
        name, _, unit = token.partition("/")
        name = name.lower()
        factor = 1.0
        if unit:
            key = (name, unit.lower())
            if key not in _UNITS:
                raise lines.error(lineno - 1, f"unknown unit {unit!r} for column {name!r} in the data header")
            factor = _UNITS[key]
        names.append(name)
        factors.append(factor)
    missing = [c for c in "abmn" if c not in names]
    if missing:
        raise lines.error(
            lineno - 1, f"the data header {' '.join(header)!r} lacks the electrode column(s) {', '.join(missing)}"
        )
    if len(set(names)) != len(names):
        raise lines.error(lineno - 1, f"the data header {' '.join(header)!r} names a column twice")
    return names, np.array(factors)


def read_unified(path: str | os.PathLike) -> ERTData:
    """Read a file in the unified data format of BERT / pyGIMLi (see the module docstring).

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    ERTData
        0-based electrode indices, -1 for an unused electrode; columns in SI units.

    Raises
    ------
    FemeitError
        For a missing file or a malformed one (the message names the line).
    """
    lines = _Lines(path)
    lineno, tokens, _ = lines.next_body("the number of sensors")
    n_sensors = _count(lines, lineno, tokens, "sensors")
    sensors = np.zeros((n_sensors, 3))
    sensor_names: list[str] | None = None
    for i in range(n_sensors):
        lineno, tokens, header = lines.next_body(f"sensor {i + 1} of {n_sensors}")
        if i == 0:
            wanted = [h.lower() for h in header]
            if wanted and all(h in ("x", "y", "z") for h in wanted) and len(set(wanted)) == len(wanted):
                sensor_names = wanted
            else:
                sensor_names = ["x", "z"] if len(tokens) == 2 else ["x", "y", "z"][: max(1, len(tokens))]
        if len(tokens) == 1 and i > 0:
            raise lines.error(
                lineno, f"found {i} sensor positions but the file declares {n_sensors} (this line looks like a count)"
            )
        values = _numbers(lines, lineno, tokens, sensor_names, f"sensor {i + 1}")
        for name, v in zip(sensor_names, values, strict=True):
            sensors[i, "xyz".index(name)] = v
    lineno, tokens, header = lines.next_body("the number of data")
    if len(tokens) != 1:
        raise lines.error(
            lineno,
            f"expected the number of data after {n_sensors} sensors, found {' '.join(tokens)!r} "
            "(more sensor lines than declared?)",
        )
    n_data = _count(lines, lineno, tokens, "data")
    names: list[str] = []
    factors = np.ones(0)
    table = np.zeros((n_data, 0))
    for i in range(n_data):
        lineno, tokens, header = lines.next_body(f"reading {i + 1} of {n_data}")
        if i == 0:
            if not header:
                raise lines.error(lineno, "the data block has no column header (a line like '# a b m n r')")
            names, factors = _data_header(lines, lineno, header)
            table = np.zeros((n_data, len(names)))
        if len(tokens) == 1:
            raise lines.error(lineno, f"found {i} readings but the file declares {n_data}")
        table[i] = _numbers(lines, lineno, tokens, names, f"reading {i + 1}")
        idx = table[i, [names.index(c) for c in "abmn"]]
        if np.any(np.mod(idx, 1) != 0) or idx.min() < 0 or idx.max() > n_sensors:
            raise lines.error(
                lineno,
                f"electrode indices {idx.astype(float).tolist()} are not whole numbers in 0..{n_sensors} "
                "(1-based, 0 = unused)",
            )
        if (idx[0] == 0 and idx[1] == 0) or (idx[2] == 0 and idx[3] == 0):
            raise lines.error(lineno, "a reading needs at least one current and one potential electrode")
    _check_tail(lines, n_data)
    abmn = table[:, [names.index(c) for c in "abmn"]].astype(np.int64) - 1
    columns = {n: table[:, j] * factors[j] for j, n in enumerate(names) if n not in "abmn"}
    return ERTData(sensors, abmn, columns, tuple(sensor_names or ("x", "z")))


def _check_tail(lines: _Lines, n_data: int) -> None:
    """Accept nothing or a topography block ``t`` followed by t position lines after the data."""
    rest = lines.rest()
    if not rest:
        return
    lineno, tokens = rest[0]
    if len(tokens) != 1:
        raise lines.error(lineno, f"more readings than the {n_data} the file declares (or stray content)")
    t = _count(lines, lineno, tokens, "topography points")
    if len(rest) - 1 != t:
        raise lines.error(lineno, f"the topography block declares {t} points but {len(rest) - 1} lines follow")
    for ln, toks in rest[1:]:
        _numbers(lines, ln, toks, ["x", "y", "z"][: len(toks)] if len(toks) <= 3 else ["x", "y", "z"], "topography")


def _check_new_file(path: str | os.PathLike, overwrite: bool) -> Path:
    p = Path(path)
    if p.exists() and not overwrite:
        raise FemeitError(f"{p} exists; pass overwrite=True to replace it")
    if not p.parent.exists():
        raise FemeitError(f"the folder {p.parent} does not exist")
    return p


def write_unified(
    path: str | os.PathLike, data: ERTData, *, columns: list[str] | None = None, overwrite: bool = False
) -> Path:
    """Write ``data`` in the unified data format (1-based indices, 0 = unused).

    Parameters
    ----------
    path : str or path-like
    data : ERTData
    columns : list of str, optional
        Data columns to write, in order (default all, in the order of ``data.columns``).
    overwrite : bool
        Replace an existing file.

    Returns
    -------
    Path
    """
    p = _check_new_file(path, overwrite)
    names = list(data.columns) if columns is None else [c.lower() for c in columns]
    missing = [c for c in names if c not in data.columns]
    if missing:
        raise FemeitError(f"no column(s) {missing} in the data (it has {sorted(data.columns)})")
    sc = list(data.sensor_columns)
    out = [f"{data.n_sensors}# Number of sensors", "#" + "\t".join(sc)]
    cols = ["xyz".index(c) for c in sc]
    out += ["\t".join(f"{v:.12g}" for v in row) for row in data.sensors[:, cols]]
    out += [f"{data.n_data}# Number of data", "#" + "\t".join(["a", "b", "m", "n", *names])]
    idx = data.abmn + 1
    vals = np.column_stack([data.columns[c] for c in names]) if names else np.zeros((data.n_data, 0))
    for i in range(data.n_data):
        out.append("\t".join([*(str(int(v)) for v in idx[i]), *(f"{v:.12g}" for v in vals[i])]))
    p.write_text("\n".join(out) + "\n", encoding="utf-8")
    return p


def read_res2dinv(path: str | os.PathLike) -> ERTData:
    """Read a Res2DInv file in the general array format (array type 11; see the module docstring).

    Returns
    -------
    ERTData
        Sensors at the distinct (x, z) of the rows, sorted by x; a column
        ``rhoa`` or ``r`` (by the measurement-type flag), and ``ip`` when present.
    """
    lines = _Lines(path)
    raw = lines.raw
    if len(raw) < 9:
        raise lines.error(len(raw) or None, "too short for a Res2DInv general-array header (9 lines)")

    def header_int(i: int, what: str, allowed: tuple[int, ...] | None = None) -> int:
        tok = raw[i].split()
        try:
            v = float(tok[0]) if tok else float("nan")
        except ValueError:
            v = float("nan")
        if not np.isfinite(v) or not v.is_integer() or (allowed is not None and int(v) not in allowed):
            raise lines.error(i + 1, f"expected the {what}, found {raw[i].strip()!r}")
        return int(v)

    array_type = header_int(2, "array type (11: general array)")
    if array_type != 11:
        raise lines.error(3, f"array type {array_type} is not read here; only the general array format (11) is")
    header_int(3, "sub-array type")
    kind = header_int(5, "measurement type (0 = apparent resistivity, 1 = resistance)", (0, 1))
    n_data = header_int(6, "number of data")
    header_int(7, "type of x-location")
    has_ip = header_int(8, "IP flag (0 or 1)", (0, 1))
    pos = 9 + 3 * has_ip
    has_err = False
    if pos < len(raw) and raw[pos].strip().lower().startswith("error estimate"):
        has_err = True
        pos += 3
    rows = []
    for i in range(n_data):
        while pos < len(raw) and not raw[pos].strip():
            pos += 1
        if pos >= len(raw):
            raise lines.error(None, f"found {i} data rows but the header declares {n_data}")
        lineno = pos + 1
        tokens = raw[pos].replace(",", " ").split()
        pos += 1
        try:
            values = [float(t) for t in tokens]
        except ValueError:
            bad = next(t for t in tokens if not _is_number(t))
            raise lines.error(lineno, f"{bad!r} is not a number") from None
        if not values or values[0] not in (2.0, 3.0, 4.0):
            raise lines.error(
                lineno, f"a data row starts with the number of electrodes (2, 3 or 4), found {tokens[:1]}"
            )
        k = int(values[0])
        need = 1 + 2 * k + 1 + has_ip + has_err
        if len(values) != need:
            raise lines.error(lineno, f"a {k}-electrode row needs {need} values, found {len(values)}")
        rows.append((k, values))
    xz = [np.array(v[1 : 1 + 2 * k]).reshape(k, 2) for k, v in rows]
    allpts = np.concatenate(xz) if xz else np.zeros((0, 2))
    sensors, inverse = np.unique(np.round(allpts, 9), axis=0, return_inverse=True)
    inverse = inverse.ravel()
    abmn = -np.ones((n_data, 4), dtype=np.int64)
    slots = {4: [0, 1, 2, 3], 3: [0, 2, 3], 2: [0, 2]}
    start = 0
    for i, (k, _) in enumerate(rows):
        abmn[i, slots[k]] = inverse[start : start + k]
        start += k
    value_col = np.array([v[1 + 2 * k] for k, v in rows])
    columns = {"rhoa" if kind == 0 else "r": value_col}
    if has_ip:
        columns["ip"] = np.array([v[2 + 2 * k] for k, v in rows])
    if has_err:
        columns["err_abs"] = np.array([v[-1] for k, v in rows])
    s3 = np.column_stack([sensors[:, 0], np.zeros(len(sensors)), sensors[:, 1]])
    return ERTData(s3, abmn, columns, ("x", "z"))


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def write_res2dinv(
    path: str | os.PathLike,
    data: ERTData,
    *,
    value: str = "rhoa",
    title: str = "femeit export",
    overwrite: bool = False,
) -> Path:
    """Write ``data`` in Res2DInv's general array format (array type 11).

    Parameters
    ----------
    path : str or path-like
    data : ERTData
        A profile (all sensors at y = 0).
    value : {"rhoa", "r"}
        The column written: apparent resistivity (measurement type 0) or resistance (1).
    title : str
        First line of the file.
    overwrite : bool
        Replace an existing file.

    Notes
    -----
    Res2DInv's pole rows name C1 (and P1) only.  A row whose A (or M) is
    unused is written with B as C1 (N as P1) and its value negated, which
    is the same reading.
    """
    p = _check_new_file(path, overwrite)
    xz = data.profile()
    if value not in ("rhoa", "r"):
        raise FemeitError(f"value must be 'rhoa' or 'r', got {value!r}")
    if value not in data.columns:
        raise FemeitError(f"the data have no {value!r} column (they have {sorted(data.columns)})")
    vals = data.columns[value].copy()
    abmn = data.abmn.copy()
    for pole, partner in ((0, 1), (2, 3)):
        swap = (abmn[:, pole] < 0) & (abmn[:, partner] >= 0)
        abmn[swap, pole], abmn[swap, partner] = abmn[swap, partner], -1
        vals[swap] *= -1
    spacing = np.diff(np.unique(xz[:, 0]))
    unit = float(spacing.min()) if len(spacing) else 1.0
    out = [
        title.replace("\n", " "),
        f"{unit:.6g}",
        "11",
        "0",
        "Type of measurement (0=app. resistivity,1=resistance)",
        "0" if value == "rhoa" else "1",
        str(data.n_data),
        "1",
        "0",
    ]
    for row, v in zip(abmn, vals, strict=True):
        used = [e for e in row if e >= 0]
        coords = " ".join(f"{xz[e, 0]:.9g} {xz[e, 1]:.9g}" for e in used)
        out.append(f"{len(used)} {coords} {v:.12g}")
    out += ["0", "0", "0", "0"]
    p.write_text("\n".join(out) + "\n", encoding="utf-8")
    return p
