"""Protocols: the published arrays row by row, reciprocity bookkeeping, the EIM view, errors."""

import numpy as np
import pytest

from femeit.errors import FemeitError
from femeit.protocol import Protocol


def test_adjacent_16_has_208_rows_and_104_reciprocal_pairs():
    p = Protocol.adjacent(16)
    assert p.n_rows == 208 and len(p.injections) == 16
    assert not np.any(np.isin(p.abmn[:, 2:], p.abmn[:, :2]).any(axis=1) & False)
    for a, b, m, n in p.abmn:
        assert not {m, n} & {a, b}
    pairs = p.reciprocal_pairs()
    assert len(pairs) == 104
    assert len(p.reciprocal_unique_rows()) == 104
    assert Protocol.adjacent(16, exclude_current_electrodes=False).n_rows == 256
    assert Protocol.adjacent(16, skip=7).abmn[0].tolist() == [0, 8, 1, 9]


def test_gasulla_dipole_dipole_rows():
    p = Protocol.dipole_dipole(16)
    assert p.n_rows == 104
    one_based = p.abmn + 1
    assert one_based[0].tolist() == [1, 2, 3, 4]
    assert one_based[12].tolist() == [1, 2, 15, 16]
    assert one_based[90].tolist() == [13, 14, 15, 16]
    assert one_based[91].tolist() == [16, 1, 2, 3] and one_based[-1].tolist() == [16, 1, 14, 15]
    assert len({tuple(r) for r in p.abmn.tolist()}) == 104


def test_gasulla_schlumberger_rows():
    p = Protocol.schlumberger(16)
    assert p.n_rows == 104
    one_based = p.abmn + 1
    assert one_based[0].tolist() == [1, 16, 2, 3] and one_based[12].tolist() == [1, 16, 14, 15]
    assert one_based[90].tolist() == [13, 16, 14, 15]
    assert one_based[91].tolist() == [1, 15, 2, 3] and one_based[102].tolist() == [1, 15, 13, 14]
    assert one_based[103].tolist() == [3, 16, 1, 2]
    assert len({tuple(r) for r in p.abmn.tolist()}) == 104


def test_wenner_and_opposite():
    w = Protocol.wenner(8)
    assert w.abmn[0].tolist() == [0, 3, 1, 2] and w.abmn[-1].tolist() == [1, 7, 3, 5]
    o = Protocol.opposite(16)
    assert len(o.injections) == 8 and o.abmn[0, :2].tolist() == [0, 8]


def test_from_patterns_matches_the_ktc_layout():
    L = 32
    odd = np.arange(0, L, 2)
    inj = np.zeros((L, 16))
    inj[odd, np.arange(16)] = 1.47e-3
    inj[np.roll(odd, -1), np.arange(16)] = -1.47e-3
    mpat = np.zeros((L, 31))
    mpat[np.arange(31), np.arange(31)] = 1.0
    mpat[np.arange(1, 32), np.arange(31)] = -1.0
    p = Protocol.from_patterns(inj, mpat)
    assert p.n_rows == 16 * 31
    assert p.row_injection[31] == 1 and np.array_equal(p.measurements[31], mpat[:, 0])
    u = np.random.default_rng(0).standard_normal((16, L))
    # Injection-major: reading k of pattern i is Mpat[:, k] @ U_i.
    np.testing.assert_allclose(np.einsum("ij,ij->i", p.measurements, u[p.row_injection]), (u @ mpat).ravel())


def test_eim_layout_and_rotation():
    p = Protocol.adjacent(16)
    values = np.arange(1, 209, dtype=float)
    eim = p.to_eim(values)
    assert eim.shape == (16, 16) and np.count_nonzero(eim) == 208
    a, _, m, _ = p.abmn[5]
    assert eim[a, m] == values[5]
    # Data of a rotated object: row (a, m) takes the value of (a - 1, m - 1); the map rotates diagonally.
    index = {(r[0], r[2]): i for i, r in enumerate(p.abmn)}
    rotated = np.array([values[index[((r[0] - 1) % 16, (r[2] - 1) % 16)]] for r in p.abmn])
    np.testing.assert_array_equal(p.to_eim(rotated), np.roll(eim, (1, 1), axis=(0, 1)))


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda: Protocol.from_abmn([[0, 1, 2, 16]], 16), "outside 0..15"),
        (lambda: Protocol.from_abmn([[0, 0, 2, 3]], 16), "A == B"),
        (lambda: Protocol.from_abmn([[0, 1, 2, 2]], 16), "M == N"),
        (lambda: Protocol.from_abmn([[0, 1, 2]], 16), "shape"),
        (lambda: Protocol.from_patterns(np.ones((16, 2)), np.ones((16, 3))), "sum to zero"),
        (lambda: Protocol.from_patterns(np.zeros((16, 2)), np.ones((16, 3))), "no current"),
        (lambda: Protocol.from_patterns(np.ones((16, 2)), np.ones((15, 3))), "same L"),
        (lambda: Protocol.adjacent(3), "at least 4"),
        (lambda: Protocol.opposite(15), "even"),
        (lambda: Protocol.schlumberger(16).to_eim(np.ones(104)), "adjacent"),
        (lambda: Protocol.adjacent(16).to_eim(np.ones(100)), "208 rows"),
    ],
)
def test_bad_protocols_are_named(call, words):
    with pytest.raises(FemeitError, match=words):
        call()
