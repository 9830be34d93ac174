"""Standard ERT electrode arrays on a line, as :class:`~femeit.protocol.Protocol` objects.

Electrodes are numbered 0..L-1 along the line at equal steps; spacings ``a``
are in electrode steps.  Each function returns rows (A, B, M, N): +I into A,
-I out of B, reading U(M) - U(N), ordered spacing by spacing (then by ``n``),
and within one spacing from the start of the line to its end.  The
conventions are those of the geophysical literature (e.g. Loke, *Tutorial:
2-D and 3-D electrical imaging surveys*, 2004; Telford, Geldart & Sheriff,
*Applied Geophysics*, 2nd ed., Cambridge 1990, chapter 8):

============== ============================= ================================
array          positions along the line      geometric factor (flat ground)
============== ============================= ================================
Wenner alpha   A M N B at i, i+a, i+2a, i+3a 2 pi a
Wenner beta    B A M N at i, i+a, i+2a, i+3a 6 pi a
Wenner gamma   A M B N at i, i+a, i+2a, i+3a 3 pi a
Schlumberger   A M N B at i, i+na, i+(n+1)a, pi n (n+1) a
               i+(2n+1)a
dipole-dipole  B A M N at i, i+a, i+(n+1)a,  pi n (n+1) (n+2) a
               i+(n+2)a
pole-dipole    A M N at i, i+na, i+(n+1)a;   2 pi n (n+1) a
               B remote
pole-pole      A M at i, i+a; B, N remote    2 pi a
gradient       A, B at the ends, M N inside  (from the positions)
============== ============================= ================================

The Schlumberger row is the Wenner-Schlumberger imaging variant.

Remote electrodes ("poles").  A pole array returns a protocol on L + 1
electrodes: index L is *the remote electrode*, a point at infinity that
carries the returning current (B) and the reference potential (N).  Its
potential is zero and it adds no source; :func:`line_positions` with
``remote=True`` gives it the position ``(inf, inf, inf)``, which the geometric
factors (:mod:`femeit.ert.geometric`), the file writers (:mod:`femeit.ert.formats`,
index 0 in the unified format) and the 2.5D forward model
(:mod:`femeit.ert.forward25d`) all read as "at infinity".  One index serves
both B and N: two electrodes at infinity are at the same (zero) potential.

These are the standard arrays; the variants of Gasulla & Pallas-Areny (2005)
keep their own names on :class:`~femeit.protocol.Protocol`
(``Protocol.dipole_dipole``, ``Protocol.schlumberger``).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from femeit.errors import FemeitError
from femeit.protocol import Protocol

__all__ = [
    "dipole_dipole",
    "gradient",
    "line_positions",
    "multiple_gradient",
    "pole_dipole",
    "pole_pole",
    "schlumberger",
    "wenner_alpha",
    "wenner_beta",
    "wenner_gamma",
]


def line_positions(n_electrodes: int, spacing: float = 1.0, *, remote: bool = False) -> np.ndarray:
    """Electrode positions ``(i * spacing, 0, 0)`` on a straight line on flat ground.

    Parameters
    ----------
    n_electrodes : int
        L electrodes.
    spacing : float
        Distance between neighbours, m.
    remote : bool
        Append the remote electrode of the pole arrays, at ``(inf, inf, inf)``.

    Returns
    -------
    ndarray, shape (L, 3) or (L + 1, 3)
    """
    L = _check_count(n_electrodes, 1, "line_positions")
    if not (np.isfinite(spacing) and spacing > 0):
        raise FemeitError(f"electrode spacing must be a positive number of metres, got {spacing!r}")
    pos = np.zeros((L + int(remote), 3))
    pos[:L, 0] = np.arange(L) * float(spacing)
    if remote:
        pos[L] = np.inf
    return pos


def _check_count(n: int, minimum: int, what: str) -> int:
    if isinstance(n, bool) or not float(n).is_integer():
        raise FemeitError(f"{what}: the number of electrodes must be a whole number, got {n!r}")
    n = int(n)
    if n < minimum:
        raise FemeitError(f"{what} needs at least {minimum} electrodes, got {n}")
    return n


def _ints(values: Iterable[int] | int | None, default: Iterable[int], what: str) -> np.ndarray:
    if values is None:
        values = list(default)
    arr = np.atleast_1d(np.asarray(values))
    if arr.size == 0 or arr.ndim != 1 or not np.all(np.mod(arr, 1) == 0) or np.any(arr < 1):
        raise FemeitError(f"{what} must be positive whole numbers, got {values!r}")
    return arr.astype(np.int64)


def _rows(L: int, spacings: np.ndarray, ns: np.ndarray, offsets, width, what: str) -> Protocol:
    """Slide the pattern ``offsets(a, n)`` (offsets of A, B, M, N from i) along the line.

    ``width(a, n)`` is the largest offset.
    """
    blocks = []
    for a in spacings:
        for n in ns:
            w = width(a, n)
            if w > L - 1:
                continue
            i = np.arange(L - w)[:, None]
            blocks.append(i + np.asarray(offsets(a, n))[None, :])
    if not blocks:
        raise FemeitError(f"{what}: no row fits on {L} electrodes with these spacings")
    table = np.concatenate(blocks)
    return Protocol.from_abmn(table, L)


def _remote_rows(table: np.ndarray, L: int) -> np.ndarray:
    """Replace the marker -1 by the remote electrode's index L."""
    return np.where(table < 0, L, table)


def wenner_alpha(n_electrodes: int, spacings: Iterable[int] | None = None) -> Protocol:
    """Wenner alpha: A M N B at i, i + a, i + 2a, i + 3a (K = 2 pi a on flat ground).

    Parameters
    ----------
    n_electrodes : int
        L >= 4 electrodes on the line.
    spacings : iterable of int, optional
        Spacings a in electrode steps; default every spacing that fits (1 .. (L-1)//3).

    Returns
    -------
    Protocol
        sum over a of (L - 3a) rows (A, B, M, N) = (i, i+3a, i+a, i+2a).
    """
    L = _check_count(n_electrodes, 4, "a Wenner array")
    a = _ints(spacings, range(1, (L - 1) // 3 + 1), "Wenner spacings")
    return _rows(L, a, np.array([1]), lambda a, n: (0, 3 * a, a, 2 * a), lambda a, n: 3 * a, "Wenner alpha")


def wenner_beta(n_electrodes: int, spacings: Iterable[int] | None = None) -> Protocol:
    """Wenner beta (dipole-dipole with n = 1): B A M N at i, i + a, i + 2a, i + 3a (K = 6 pi a).

    Rows (A, B, M, N) = (i + a, i, i + 2a, i + 3a); see :func:`wenner_alpha` for the parameters.
    """
    L = _check_count(n_electrodes, 4, "a Wenner array")
    a = _ints(spacings, range(1, (L - 1) // 3 + 1), "Wenner spacings")
    return _rows(L, a, np.array([1]), lambda a, n: (a, 0, 2 * a, 3 * a), lambda a, n: 3 * a, "Wenner beta")


def wenner_gamma(n_electrodes: int, spacings: Iterable[int] | None = None) -> Protocol:
    """Wenner gamma: A M B N at i, i + a, i + 2a, i + 3a (K = 3 pi a).

    Rows (A, B, M, N) = (i, i + 2a, i + a, i + 3a); see :func:`wenner_alpha` for the parameters.
    """
    L = _check_count(n_electrodes, 4, "a Wenner array")
    a = _ints(spacings, range(1, (L - 1) // 3 + 1), "Wenner spacings")
    return _rows(L, a, np.array([1]), lambda a, n: (0, 2 * a, a, 3 * a), lambda a, n: 3 * a, "Wenner gamma")


def schlumberger(n_electrodes: int, spacings: Iterable[int] = (1,), n_max: int | None = None) -> Protocol:
    """Wenner-Schlumberger imaging array: A M N B at i, i + n a, i + (n+1) a, i + (2n+1) a.

    The potential dipole (length a) stays in the middle while the current
    electrodes move out by n a on each side; n = 1 is Wenner alpha.
    K = pi n (n + 1) a on flat ground.

    Parameters
    ----------
    n_electrodes : int
        L >= 4 electrodes.
    spacings : iterable of int
        Dipole lengths a, electrode steps.
    n_max : int, optional
        Largest n (default: every n that fits).

    Returns
    -------
    Protocol
        Rows (A, B, M, N) = (i, i + (2n+1) a, i + n a, i + (n+1) a), for each a, then n = 1..n_max, then i.
    """
    L = _check_count(n_electrodes, 4, "a Schlumberger array")
    a = _ints(spacings, (1,), "Schlumberger spacings")
    ns = _ints(None if n_max is None else range(1, int(n_max) + 1), range(1, (L - 2) // 2 + 1), "n")
    return _rows(
        L, a, ns, lambda a, n: (0, (2 * n + 1) * a, n * a, (n + 1) * a), lambda a, n: (2 * n + 1) * a, "Schlumberger"
    )


def dipole_dipole(n_electrodes: int, spacings: Iterable[int] = (1,), n_max: int = 6) -> Protocol:
    """Standard (axial) dipole-dipole: B A M N at i, i + a, i + (n+1) a, i + (n+2) a.

    Current dipole (B, A) and potential dipole (M, N) of length a, n a apart;
    K = pi n (n + 1) (n + 2) a on flat ground.  (The Gasulla 2005 scheme is
    ``Protocol.dipole_dipole``.)

    Parameters
    ----------
    n_electrodes : int
        L >= 4 electrodes.
    spacings : iterable of int
        Dipole lengths a, electrode steps.
    n_max : int
        Largest separation factor n (rows with n = 1..n_max that fit).

    Returns
    -------
    Protocol
        Rows (A, B, M, N) = (i + a, i, i + (n+1) a, i + (n+2) a).
    """
    L = _check_count(n_electrodes, 4, "a dipole-dipole array")
    a = _ints(spacings, (1,), "dipole-dipole spacings")
    ns = _ints(range(1, int(n_max) + 1) if int(n_max) >= 1 else [], (), "n_max")
    return _rows(L, a, ns, lambda a, n: (a, 0, (n + 1) * a, (n + 2) * a), lambda a, n: (n + 2) * a, "dipole-dipole")


def pole_dipole(
    n_electrodes: int, spacings: Iterable[int] = (1,), n_max: int = 6, *, reverse: bool = False
) -> Protocol:
    """Pole-dipole: A M N at i, i + n a, i + (n+1) a; B is the remote electrode (index L).

    K = 2 pi n (n + 1) a on flat ground.  ``reverse=True`` adds the mirrored
    rows (N M A at i, i + a, i + (n+1) a), as used to balance the asymmetric
    array (Loke 2004).

    Returns
    -------
    Protocol on L + 1 electrodes
        Rows (A, L, M, N) = (i, L, i + n a, i + (n+1) a), then the reversed rows
        (i + (n+1) a, L, i + a, i) when requested.
    """
    L = _check_count(n_electrodes, 3, "a pole-dipole array")
    a = _ints(spacings, (1,), "pole-dipole spacings")
    ns = _ints(range(1, int(n_max) + 1) if int(n_max) >= 1 else [], (), "n_max")
    blocks = []
    for s in a:
        for n in ns:
            w = (n + 1) * s
            if w > L - 1:
                continue
            i = np.arange(L - w)
            blocks.append(np.column_stack([i, np.full_like(i, L), i + n * s, i + w]))
    if not blocks:
        raise FemeitError(f"pole-dipole: no row fits on {L} electrodes with these spacings")
    table = np.concatenate(blocks)
    if reverse:
        back = table.copy()
        span = table[:, 3] - table[:, 0]  # (n + 1) a
        dip = table[:, 3] - table[:, 2]  # a
        back[:, 0] = table[:, 0] + span
        back[:, 2] = table[:, 0] + dip
        back[:, 3] = table[:, 0]
        table = np.concatenate([table, back])
    return Protocol.from_abmn(table, L + 1)


def pole_pole(n_electrodes: int, spacings: Iterable[int] | None = None) -> Protocol:
    """Pole-pole: A M at i, i + a; B and N are the remote electrode (index L). K = 2 pi a.

    Parameters
    ----------
    n_electrodes : int
        L >= 2 electrodes.
    spacings : iterable of int, optional
        Spacings a, electrode steps (default 1 .. L-1).

    Returns
    -------
    Protocol on L + 1 electrodes
        Rows (A, B, M, N) = (i, L, i + a, L).
    """
    L = _check_count(n_electrodes, 2, "a pole-pole array")
    a = _ints(spacings, range(1, L), "pole-pole spacings")
    blocks = [
        np.column_stack([np.arange(L - s), np.full(L - s, -1), np.arange(L - s) + s, np.full(L - s, -1)])
        for s in a
        if s <= L - 1
    ]
    if not blocks:
        raise FemeitError(f"pole-pole: no row fits on {L} electrodes with these spacings")
    return Protocol.from_abmn(_remote_rows(np.concatenate(blocks), L), L + 1)


def gradient(n_electrodes: int, spacing: int = 1) -> Protocol:
    """Gradient array: current between the two ends of the line, every potential dipole of length ``spacing`` inside.

    Returns
    -------
    Protocol
        Rows (0, L-1, j, j + s) for j = 1 .. L - 2 - s (s = ``spacing``).
    """
    L = _check_count(n_electrodes, 4, "a gradient array")
    s = int(_ints(spacing, (1,), "gradient spacing")[0])
    j = np.arange(1, L - 1 - s)
    if len(j) == 0:
        raise FemeitError(f"gradient array: no potential dipole of length {s} fits between the ends of {L} electrodes")
    table = np.column_stack([np.zeros_like(j), np.full_like(j, L - 1), j, j + s])
    return Protocol.from_abmn(table, L)


def multiple_gradient(n_electrodes: int, s_values: Iterable[int] = (7,), spacings: Iterable[int] = (1,)) -> Protocol:
    """Multiple-gradient array of Dahlin & Zhou (2006).

    Dahlin, T. & Zhou, B. (2006), "Multiple-gradient array measurements for
    multichannel 2D resistivity imaging", Near Surface Geophysics 4, 113-123
    (their Fig. 1): current electrodes A at i and B at i + (s + 2) a; the s
    potential dipoles of length a between them, M = i + k a, N = i + (k+1) a
    for k = 1..s.  The paper's surveys use several values of s and a.

    Returns
    -------
    Protocol
        Rows (i, i + (s+2) a, i + k a, i + (k+1) a), ordered by a, s, i, k.
    """
    L = _check_count(n_electrodes, 4, "a multiple-gradient array")
    a_values = _ints(spacings, (1,), "multiple-gradient spacings")
    s_arr = _ints(s_values, (7,), "s")
    blocks = []
    for a in a_values:
        for s in s_arr:
            span = (s + 2) * a
            if span > L - 1:
                continue
            i = np.repeat(np.arange(L - span), s)
            k = np.tile(np.arange(1, s + 1), L - span)
            blocks.append(np.column_stack([i, i + span, i + k * a, i + (k + 1) * a]))
    if not blocks:
        raise FemeitError(f"multiple gradient: no row fits on {L} electrodes with these s and a")
    return Protocol.from_abmn(np.concatenate(blocks), L)
