"""Multi-ring protocols and protocols from files (issue 20): exact rows."""

import numpy as np
import pytest

from femeit.errors import FemeitError
from femeit.protocol import ALL_PROTOCOL_NAMES, Protocol


def test_in_ring_reads_every_ring_and_skips_current_electrodes():
    p = Protocol.multi_ring([4, 4], "in_ring")
    # Drive (0, 1): ring 0 leaves only (2, 3); ring 1 gives its four adjacent pairs.
    assert p.abmn[:5].tolist() == [[0, 1, 2, 3], [0, 1, 4, 5], [0, 1, 5, 6], [0, 1, 6, 7], [0, 1, 7, 4]]
    assert p.n_rows == 8 * 5
    # The wrap-around pair of ring 1 is (7, 4), never (3, 4) across the rings.
    assert [3, 4] not in p.abmn[:, :2].tolist() and [7, 4] in p.abmn[:, :2].tolist()


def test_planar_is_one_2d_protocol_per_ring():
    p = Protocol.multi_ring([4, 4], "planar")
    assert p.abmn.tolist() == [
        [0, 1, 2, 3], [1, 2, 3, 0], [2, 3, 0, 1], [3, 0, 1, 2],
        [4, 5, 6, 7], [5, 6, 7, 4], [6, 7, 4, 5], [7, 4, 5, 6],
    ]  # fmt: skip
    single = Protocol.adjacent(4)
    assert np.array_equal(p.abmn[:4], single.abmn)


def test_cross_ring_pairs_span_the_rings():
    p = Protocol.multi_ring([4, 4], "cross_ring")
    assert p.abmn[:3].tolist() == [[0, 5, 1, 6], [0, 5, 2, 7], [0, 5, 3, 4]]
    assert p.n_rows == 4 * 3
    rings = p.abmn // 4
    assert np.all(rings[:, 0] == 0) and np.all(rings[:, 1] == 1)
    assert np.all(rings[:, 2] == 0) and np.all(rings[:, 3] == 1)
    skip1 = Protocol.multi_ring([4, 4], "cross_ring", skip=1)
    assert skip1.abmn[0, :2].tolist() == [0, 6]


def test_zigzag_chain_alternates_between_rings():
    p = Protocol.multi_ring([3, 3], "zigzag", meas_current=True)
    pairs = [[0, 3], [3, 1], [1, 4], [4, 2], [2, 5], [5, 0]]
    assert p.abmn[:6].tolist() == [[0, 3, *m] for m in pairs]
    assert p.n_rows == 36
    no_current = Protocol.multi_ring([3, 3], "zigzag")
    assert no_current.abmn[:3].tolist() == [[0, 3, 1, 4], [0, 3, 4, 2], [0, 3, 2, 5]]


def test_meas_current_keeps_the_readings_on_driven_electrodes():
    with_current = Protocol.multi_ring([4, 4], "in_ring", meas_current=True)
    assert with_current.n_rows == 64 and with_current.abmn[0].tolist() == [0, 1, 0, 1]


def test_by_name_dispatches_ring_patterns_with_the_ring_sizes():
    for name in ("in_ring", "planar", "cross_ring", "zigzag"):
        assert name in ALL_PROTOCOL_NAMES
    p = Protocol.by_name("cross_ring", 32, rings=[16, 16])
    assert p.n_rows == 16 * 15 and p.n_electrodes == 32
    assert np.array_equal(p.abmn, Protocol.multi_ring([16, 16], "cross_ring").abmn)
    with pytest.raises(FemeitError, match="at least 2 rings"):
        Protocol.by_name("cross_ring", 16)
    with pytest.raises(FemeitError, match="hold 24 electrodes"):
        Protocol.by_name("planar", 32, rings=[16, 8])
    with pytest.raises(FemeitError, match="equal size"):
        Protocol.multi_ring([8, 6], "zigzag")


def test_protocol_from_csv_and_npz(tmp_path):
    csv = tmp_path / "p.csv"
    csv.write_text("# A,B,M,N\n0,5,1,6\n0,5,2,7\n")
    p = Protocol.from_file(csv, 8)
    assert p.abmn.tolist() == [[0, 5, 1, 6], [0, 5, 2, 7]]
    inj = np.array([[1.0, -1.0, 0, 0], [0, 1.0, -1.0, 0]])
    meas = np.array([[0, 0, 1.0, -1.0], [1.0, 0, 0, -1.0]])
    np.savez(tmp_path / "m.npz", injections=inj, measurements=meas)
    q = Protocol.from_file(tmp_path / "m.npz", 4)
    assert q.n_rows == 4 and q.row_injection.tolist() == [0, 0, 1, 1]
    assert np.array_equal(q.measurements, np.vstack([meas, meas]))
    np.savez(tmp_path / "r.npz", injections=inj, measurements=meas, row_injection=np.array([1, 0]))
    assert Protocol.from_file(tmp_path / "r.npz", 4).row_injection.tolist() == [1, 0]
    np.savez(tmp_path / "bad.npz", currents=inj)
    with pytest.raises(FemeitError, match="injections"):
        Protocol.from_file(tmp_path / "bad.npz", 4)
    with pytest.raises(FemeitError, match="not found"):
        Protocol.from_file(tmp_path / "none.csv", 4)
