"""``femeit forward`` and ``femeit jacobian``."""

from pathlib import Path

import numpy as np

import femeit as fe
from femeit.cli import main
from femeit.forward import ForwardModel
from femeit.protocol import Protocol

ROOT = Path(__file__).parent.parent


def test_forward_and_jacobian_commands(tmp_path, capsys):
    spec = tmp_path / "disk.toml"
    spec.write_text(
        "kind = 'circle'\nradius = 1.0\nn_electrodes = 16\nelectrode_width = 0.1\nh = 0.15\n"
        "[[inclusions]]\nx = 0.3\ny = 0.0\nradius = 0.2\n"
    )
    out = tmp_path / "v.npz"
    assert main(["forward", str(spec), "--region", "inclusion_1=3", "--z", "0.02", "-o", str(out)]) == 0
    data = np.load(out)
    mesh = fe.mesh_from_spec(fe.load_spec(spec))
    expected = ForwardModel(mesh, Protocol.adjacent(16), 0.02).simulate({"domain": 1.0, "inclusion_1": 3.0})
    np.testing.assert_allclose(data["voltages"], expected, rtol=1e-12)
    assert data["abmn"].shape == (208, 4)
    csv = tmp_path / "j.csv"
    assert main(["jacobian", str(spec), "--protocol", "opposite", "-o", str(csv)]) == 0
    assert np.loadtxt(csv, delimiter=",").shape == (8 * 12, mesh.n_elements)
    abmn = tmp_path / "abmn.csv"
    abmn.write_text("0,1,2,3\n4,5,6,7\n")
    assert main(["forward", str(spec), "--abmn", str(abmn), "-o", str(tmp_path / "two.csv")]) == 0
    assert np.loadtxt(tmp_path / "two.csv", delimiter=",").shape == (2,)
    capsys.readouterr()
    assert main(["forward", str(spec), "--region", "lake=2"]) == 2
    assert "NAME one of" in capsys.readouterr().err
    assert main(["forward", str(spec), "--sigma", "-1"]) == 2
    assert "positive" in capsys.readouterr().err
    abmn.write_text("0,1,2,30\n")
    assert main(["forward", str(spec), "--abmn", str(abmn)]) == 2
    assert "outside 0..15" in capsys.readouterr().err


def test_reconstruct_command(tmp_path, capsys):
    spec = tmp_path / "disk.toml"
    spec.write_text(
        "kind = 'circle'\nradius = 1.0\nn_electrodes = 16\nelectrode_width = 0.1\nh = 0.1\n"
        "[[inclusions]]\nx = 0.4\ny = 0.2\nradius = 0.2\n"
    )
    ref, dat = tmp_path / "ref.npz", tmp_path / "data.npz"
    assert main(["forward", str(spec), "-o", str(ref)]) == 0
    assert main(["forward", str(spec), "--region", "inclusion_1=2", "-o", str(dat)]) == 0
    out = tmp_path / "rec"
    assert main(["reconstruct", str(spec), "--data", str(dat), "--reference", str(ref), "-o", str(out)]) == 0
    result = np.load(out.with_suffix(".npz"))
    peak = result["centres"][np.argmax(result["x"])]
    assert np.hypot(peak[0] - 0.4, peak[1] - 0.2) < 0.3
    assert out.with_suffix(".png").exists()
    capsys.readouterr()
    assert main(["reconstruct", str(spec), "--data", str(dat)]) == 2
    assert "--reference" in capsys.readouterr().err
    bad = tmp_path / "bad.csv"
    bad.write_text("1.0\n2.0\n")
    assert main(["reconstruct", str(spec), "--data", str(bad), "--reference", str(ref)]) == 2
    assert "has 2 values; the protocol has 208 rows" in capsys.readouterr().err
