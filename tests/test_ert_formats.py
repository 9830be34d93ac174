"""ERT files: every shipped field file reads; round trips; malformed files name the line."""

from pathlib import Path

import numpy as np
import pytest

from femeit.errors import FemeitError
from femeit.ert import dipole_dipole, geometric_factor, line_positions, pole_dipole, pole_pole
from femeit.ert.data import ERTData
from femeit.ert.formats import read_res2dinv, read_unified, write_res2dinv, write_unified

DATA = Path(__file__).parent / "data" / "ert"
FILES = {
    "slagdump.ohm": (38, 222, ("x", "z"), {"r"}),
    "gallery.dat": (21, 116, ("x", "z"), {"rhoa", "err"}),
    "bedrock.dat": (64, 1223, ("x", "z"), {"rhoa", "err"}),
    "hollow_limetree.ohm": (24, 264, ("x", "y"), {"i", "u"}),
    "modeltank.shm": (48, 588, ("x", "y", "z"), set()),
}


@pytest.mark.parametrize("name", sorted(FILES))
def test_field_files_read_and_round_trip(name, tmp_path):
    n_sensors, n_data, cols, data_cols = FILES[name]
    d = read_unified(DATA / name)
    assert (d.n_sensors, d.n_data, d.sensor_columns, set(d.columns)) == (n_sensors, n_data, cols, data_cols)
    assert d.abmn.min() >= 0 and d.abmn.max() < n_sensors
    out = write_unified(tmp_path / name, d)
    back = read_unified(out)
    assert np.array_equal(back.abmn, d.abmn) and np.allclose(back.sensors, d.sensors)
    for c in d.columns:
        assert np.allclose(back.columns[c], d.columns[c], rtol=1e-12)
    with pytest.raises(FemeitError, match="exists"):
        write_unified(out, d)


def test_field_values_as_printed():
    slag = read_unified(DATA / "slagdump.ohm")
    # first sensor "0 108.8", first reading "1 4 2 3 1.18411", last "2 38 14 26 0.0510622" (1-based)
    assert np.allclose(slag.sensors[0], [0.0, 0.0, 108.8])
    assert slag.abmn[0].tolist() == [0, 3, 1, 2] and np.isclose(slag.resistances()[0], 1.18411)
    assert slag.abmn[-1].tolist() == [1, 37, 13, 25] and np.isclose(slag.resistances()[-1], 0.0510622)
    tree = read_unified(DATA / "hollow_limetree.ohm")
    # first "1 2 3 4 5e-005 -0.0078729", last "24 1 12 13 0.005 -0.0169059"
    assert tree.abmn[0].tolist() == [0, 1, 2, 3] and np.isclose(tree.resistances()[0], -0.0078729 / 5e-5)
    assert tree.abmn[-1].tolist() == [23, 0, 11, 12] and np.isclose(tree.resistances()[-1], -0.0169059 / 0.005)
    assert np.allclose(tree.sensors[0], [0.0, -0.245, 0.0])
    bed = read_unified(DATA / "bedrock.dat")
    assert bed.abmn[-1].tolist() == [14, 23, 18, 19] and np.isclose(bed.columns["rhoa"][-1], 31.40)
    with pytest.raises(FemeitError, match="no resistance"):
        bed.resistances()
    k = geometric_factor(bed.abmn, bed.positions())
    assert np.allclose(bed.with_columns(k=k).resistances() * k, bed.columns["rhoa"])


def test_units_and_poles(tmp_path):
    f = tmp_path / "p.ohm"
    f.write_text("3\n# x z\n0 0\n1 0\n2 0\n2\n# a b m n i/mA u/mV err/%\n1 0 2 3 100 5 3\n1 2 3 0 100 5 3\n")
    d = read_unified(f)
    assert d.abmn.tolist() == [[0, -1, 1, 2], [0, 1, 2, -1]]
    assert (
        np.allclose(d.columns["i"], 0.1) and np.allclose(d.columns["u"], 0.005) and np.allclose(d.columns["err"], 0.03)
    )
    p = d.protocol()
    assert p.n_electrodes == 4 and p.abmn.tolist() == [[0, 3, 1, 2], [0, 1, 2, 3]]
    assert np.all(np.isinf(d.positions()[3]))
    back = read_unified(write_unified(tmp_path / "q.ohm", d))
    assert back.abmn.tolist() == d.abmn.tolist()


BAD = {
    "sensor count": ("3\n# x z\n0 0\n1 0\n2\n# a b m n r\n1 2 1 2 1\n2 1 2 1 1\n", "line 5.*sensor"),
    "data count short": ("2\n# x z\n0 0\n1 0\n3\n# a b m n r\n1 2 2 1 1\n2 1 1 2 1\n", "end of file.*reading 3"),
    "data count long": ("2\n# x z\n0 0\n1 0\n1\n# a b m n r\n1 2 2 1 1\n2 1 1 2 1\n", "line 8.*more readings"),
    "missing column": ("2\n# x z\n0 0\n1 0\n1\n# a b m n r\n1 2 2\n", "line 7.*3 values"),
    "no n column": ("2\n# x z\n0 0\n1 0\n1\n# a b m r\n1 2 2 1\n", "line 6.*lacks.*n"),
    "index range": ("2\n# x z\n0 0\n1 0\n1\n# a b m n r\n1 3 2 1 1\n", "line 7.*0..2"),
    "not a number": ("2\n# x z\n0 0\nabc 0\n1\n# a b m n r\n1 2 2 1 1\n", "line 4.*not a number"),
    "value not a number": ("2\n# x z\n0 0\n1 0\n1\n# a b m n r\n1 2 2 1 x\n", "line 7.*r = 'x'"),
    "no header": ("2\n# x z\n0 0\n1 0\n1\n1 2 2 1 1\n", "line 6.*no column header"),
    "bad count": ("2.5\n0 0\n", "line 1.*whole number"),
    "unknown unit": ("1\n0 0\n1\n# a b m n u/kV\n1 1 1 1 1\n", "line 4.*unit"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_malformed_unified_files_name_the_line(case, tmp_path):
    text, pattern = BAD[case]
    f = tmp_path / "bad.dat"
    f.write_text(text)
    with pytest.raises(FemeitError, match=pattern):
        read_unified(f)


def test_missing_file():
    with pytest.raises(FemeitError, match="no such data file"):
        read_unified(DATA / "nothing.ohm")


def _synthetic(protocol, n):
    pos = line_positions(n, 2.0, remote=protocol.n_electrodes > n)
    abmn = np.where(protocol.abmn >= n, -1, protocol.abmn)
    k = geometric_factor(protocol, pos)
    rhoa = 100 + np.arange(len(abmn), dtype=float)
    return ERTData(pos[:n], abmn, {"rhoa": rhoa, "r": rhoa / k}, ("x", "z"))


@pytest.mark.parametrize(
    "make", [lambda: dipole_dipole(12, n_max=4), lambda: pole_dipole(12, n_max=3), lambda: pole_pole(8)]
)
def test_res2dinv_round_trip(make, tmp_path):
    d = _synthetic(make(), 12 if make().n_electrodes in (12, 13) else 8)
    for value in ("rhoa", "r"):
        out = write_res2dinv(tmp_path / f"x_{value}.dat", d, value=value)
        back = read_res2dinv(out)
        assert np.allclose(back.sensors, d.sensors[np.unique(d.abmn[d.abmn >= 0])])
        # electrodes are renumbered over the ones used; map back through x
        x = back.sensors[:, 0]
        mapped = np.where(back.abmn >= 0, np.round(x[back.abmn] / 2.0).astype(int), -1)
        assert mapped.tolist() == d.abmn.tolist()
        assert np.allclose(back.columns[value], d.columns[value])


def test_res2dinv_reads_a_hand_written_file(tmp_path):
    f = tmp_path / "w.dat"
    f.write_text(
        "Wenner as general array\n1.0\n11\n0\nType of measurement (0=app. resistivity,1=resistance)\n0\n2\n1\n0\n"
        "4 0 0 3 0 1 0 2 0 101.5\n3 0.0 0.0 1.0 0.0 2.0 0.0 99\n0\n0\n0\n0\n"
    )
    d = read_res2dinv(f)
    assert d.sensors[:, 0].tolist() == [0.0, 1.0, 2.0, 3.0]
    assert d.abmn.tolist() == [[0, 3, 1, 2], [0, -1, 1, 2]]
    assert d.columns["rhoa"].tolist() == [101.5, 99.0]


@pytest.mark.parametrize(
    ("body", "pattern"),
    [
        ("3\n4 0 0 3 0 1 0 2 0 101.5\n", "end of file.*1 data rows"),
        ("1\n4 0 0 3 0 1 0 2 0\n", "line 10.*needs 10 values"),
        ("1\n4 0 0 3 0 1 0 2 q 5\n", "line 10.*'q'"),
        ("1\n5 0 0 3 0 1 0 2 0 1 0 1\n", "line 10.*number of electrodes"),
    ],
)
def test_malformed_res2dinv_names_the_line(body, pattern, tmp_path):
    head = "t\n1.0\n11\n0\nType of measurement (0=app. resistivity,1=resistance)\n0\n"
    count, rows = body.split("\n", 1)
    f = tmp_path / "bad.dat"
    f.write_text(head + count + "\n1\n0\n" + rows)
    with pytest.raises(FemeitError, match=pattern):
        read_res2dinv(f)
    g = tmp_path / "type.dat"
    g.write_text("t\n1.0\n1\n0\nx\n0\n1\n1\n0\n")
    with pytest.raises(FemeitError, match=r"line 3.*general array"):
        read_res2dinv(g)


def test_reciprocal_readings_of_the_lime_tree():
    from femeit.ert import reciprocal_analysis

    tree = read_unified(DATA / "hollow_limetree.ohm")
    ra = reciprocal_analysis(tree.abmn, tree.resistances())
    assert len(ra.pairs) == 12
    # 1-based "1 2 13 14 0.005 -0.0128685" and "13 14 1 2 0.005 -0.0128543"
    assert (tree.abmn[ra.pairs[0]] + 1).tolist() == [[1, 2, 13, 14], [13, 14, 1, 2]]
    expected = abs(-0.0128685 + 0.0128543) / abs(-0.0128685 - 0.0128543) * 2
    assert np.isclose(ra.relative_error[0], expected)
    a, b = ra.fit()
    assert a >= 0 and b >= 0 and a + b > 0
