"""Issue 22, silent wrong answers and tracebacks: each listed case gives a clear error or a warning."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from robust_common import ROOT, write_config

import femeit as fe
from femeit.cli import main
from femeit.errors import FemeitError
from femeit.forward import ForwardModel
from femeit.forward.conditioning import ConditioningWarning
from femeit.protocol import Protocol

SPEC = ROOT / "geometries" / "cnn_eim_disk.toml"


@pytest.fixture(scope="module")
def mesh():
    return fe.mesh_from_spec(fe.CircleSpec(h=0.15, h_electrode=0.05, inclusions=(fe.CircleInclusion(0.3, 0, 0.2),)))


@pytest.fixture(scope="module")
def model(mesh):
    return ForwardModel(mesh, Protocol.adjacent(16), 0.01)


# ----------------------------------------------------------- conditioning


@pytest.mark.parametrize(
    ("sigma", "z"),
    [(1e-12, 0.01), (1.0, 1e-15), (1.0, 1e12), ({"domain": 1.0, "inclusion_1": 1e12}, 0.01)],
)
def test_lost_digits_are_warned_about(mesh, sigma, z):
    with pytest.warns(ConditioningWarning, match="reliable digits") as record:
        ForwardModel(mesh, Protocol.adjacent(16), z).simulate(sigma)
    assert {w.filename for w in record} == {__file__}  # the caller's line, not femeit's


def test_the_warning_names_the_callers_line_whatever_the_path(mesh):
    """jacobian reaches the conditioning check through more femeit frames than simulate."""
    for call in ("simulate", "jacobian", "fields"):
        with pytest.warns(ConditioningWarning) as record:
            getattr(ForwardModel(mesh, Protocol.adjacent(16), 1e-15), call)(1.0)
        assert [w.filename for w in record] == [__file__], call


@pytest.mark.parametrize(("sigma", "z"), [(1.0, 0.01), ({"domain": 1.0, "inclusion_1": 1e6}, 0.01), (1.0, 1e-6)])
def test_well_scaled_problems_do_not_warn(mesh, sigma, z):
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConditioningWarning)
        ForwardModel(mesh, Protocol.adjacent(16), z).simulate(sigma)


def test_the_warning_tells_accurate_from_inaccurate(mesh):
    """2D readings scale exactly as V(s, z) = V(1, s z) / s; check the estimate against that.

    sigma = 1e-12 with z = 1e10 is the well-scaled problem sigma = 1, z = 0.01 in
    other units: no warning, and accurate.  sigma = 1e-12 with z = 0.01 is sigma = 1,
    z = 1e-14, which is the shunt model to 14 digits: warned, and really off.
    """
    adjacent = Protocol.adjacent(16)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConditioningWarning)
        good = ForwardModel(mesh, adjacent, 1e10).simulate(1e-12) * 1e-12
        unit = ForwardModel(mesh, adjacent, 0.01).simulate(1.0)
        shunt = ForwardModel(mesh, adjacent, electrode_model="shunt").simulate(1.0)
    assert np.max(np.abs(good - unit)) < 1e-9 * np.max(np.abs(unit))
    with pytest.warns(ConditioningWarning):
        bad = ForwardModel(mesh, adjacent, 0.01).simulate(1e-12) * 1e-12
    assert np.max(np.abs(bad - shunt)) > 1e-6 * np.max(np.abs(shunt))


# ------------------------------------------------------ numbers in, not junk


@pytest.mark.parametrize(
    ("sigma", "words"),
    [
        ("complex", "complex"),
        ({"domain": "abc", "inclusion_1": 1.0}, "must hold numbers"),
        ({"domain": None, "inclusion_1": 1.0}, "must hold numbers"),
        (None, "is None"),
        ("text", "must hold numbers"),
    ],
)
def test_bad_conductivity_values_are_named(model, mesh, sigma, words):
    if sigma == "complex":
        sigma = np.full(mesh.n_elements, 1.0 + 0.5j)
    with pytest.raises(FemeitError, match=words):
        model.simulate(sigma)


def test_complex_contact_impedance_is_refused(mesh):
    with pytest.raises(FemeitError, match="complex"):
        ForwardModel(mesh, Protocol.adjacent(16), 0.01 + 1j)


def test_complex_ktc_readings_are_refused(tmp_path):
    from scipy.io import loadmat, savemat

    from femeit import ktc2023

    source = ktc2023.DATA_DIR / "level_1" / "ref.mat"
    data = {k: v for k, v in loadmat(source).items() if not k.startswith("__")}
    key = next(k for k in data if k.lower().startswith("uel"))
    data[key] = data[key] * (1 + 1e-3j)
    target = tmp_path / "ref.mat"
    savemat(target, data)
    with pytest.raises(FemeitError, match="complex"):
        ktc2023.read_measurement(target)


def test_load_level_needs_a_whole_number():
    from femeit import ktc2023

    with pytest.raises(FemeitError, match=r"levels are 1\.\.7"):
        ktc2023.load_level(1.0)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (([["a", "b", "c", "d"]], 4), "whole numbers"),
        (([[0, 1, 2, 3]], 4, [1.0, 2.0]), "one real number per ABMN row"),
        (([[0, 1, 2, 3]], 4, "x"), "one real number per ABMN row"),
        (([[0, 1, 2, np.nan]], 4), "whole numbers"),
    ],
)
def test_from_abmn_refuses_junk(args, words):
    with pytest.raises(FemeitError, match=words):
        Protocol.from_abmn(*args)


def test_one_dimensional_basis_is_refused(model, mesh):
    with pytest.raises(FemeitError, match="2-D"):
        model.jacobian(1.0, basis=np.ones(mesh.n_elements))


# --------------------------------------------------------------- files in


def test_binary_spec_and_config_files_are_clear_errors(tmp_path, capsys):
    binary = tmp_path / "spec.toml"
    binary.write_bytes(bytes(range(256)) * 4)
    assert main(["mesh", str(binary)]) == 2
    assert "not a UTF-8 text file" in capsys.readouterr().err
    assert main(["dataset", "generate", str(binary), "-o", str(tmp_path / "x.zarr")]) == 2
    assert "not a UTF-8 text file" in capsys.readouterr().err


# ------------------------------------------------------------- CLI options


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["reconstruct", str(SPEC), "--lam", "abc"], "--lam: 'abc' is not a number"),
        (["reconstruct", str(SPEC), "--lam", "nan"], "--lam: 'nan' is not a finite number"),
        (["reconstruct", str(SPEC), "--shape", "0", "4"], "--shape: must be at least 1"),
        (["dataset", "verify", "x.zarr", "--samples", "-5"], "--samples: must be zero or positive"),
        (["dataset", "generate", "c.toml", "-o", "x", "--n", "-3"], "--n: must be at least 1"),
        (["dataset", "generate", "c.toml", "-o", "x", "--workers", "0"], "--workers: must be at least 1"),
        (["forward", str(SPEC), "--z", "-1"], "--z: must be positive"),
        (["forward", str(SPEC), "--current", "inf"], "--current: 'inf' is not a finite number"),
    ],
)
def test_bad_option_values_are_argparse_errors(argv, words, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err


def test_protocol_and_abmn_together_are_refused(tmp_path, capsys):
    abmn = tmp_path / "abmn.csv"
    abmn.write_text("0,1,2,3\n")
    assert main(["forward", str(SPEC), "--abmn", str(abmn), "--protocol", "opposite"]) == 2
    assert "both give the protocol" in capsys.readouterr().err


@pytest.mark.parametrize("address", ["notaurl", "http://example.org", "tcp://"])
def test_bad_scheduler_address_is_refused_before_any_work(tmp_path, capsys, address):
    config = write_config(tmp_path)
    out = tmp_path / "s.zarr"
    assert main(["dataset", "generate", str(config), "-o", str(out), "--n", "2", "--scheduler", address]) == 2
    assert "Dask scheduler address" in capsys.readouterr().err
    assert not out.exists()


def test_unreachable_scheduler_is_a_clear_error(tmp_path, capsys):
    pytest.importorskip("dask.distributed")
    import socket

    with socket.socket() as s:  # a free port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = write_config(tmp_path)
    args = ["dataset", "generate", str(config), "-o", str(tmp_path / "s.zarr"), "--n", "2", "--quiet"]
    assert main([*args, "--scheduler", f"tcp://127.0.0.1:{port}"]) == 2
    assert "cannot reach the Dask scheduler" in capsys.readouterr().err


# -------------------------------------------------------- dataset configs


@pytest.mark.parametrize(
    ("extra", "replace", "words"),
    [
        ("", ("validation = 0.2", "holdout = [7]\nvalidation = 0.2"), "never drawn"),
        ("\n[[sensor.inclusions]]\nx = 0.0\ny = 0.0\nradius = 0.2\n", None, "sensor.inclusions"),
        ("", ("shape = [8, 8]", "shape = [100000, 100000]"), "GiB"),
    ],
)
def test_dataset_config_mistakes_are_refused(tmp_path, extra, replace, words, capsys):
    from femeit import datasets

    text = write_config(tmp_path, replace=replace).read_text()
    if extra:
        # TOML: the array of tables must follow the [sensor] table's keys.
        text = text.replace("\n[forward]", extra + "\n[forward]")
    (tmp_path / "tiny.toml").write_text(text)
    with pytest.raises(FemeitError, match=words):
        config = datasets.load_config(tmp_path / "tiny.toml")
        datasets.generate(config, tmp_path / "d.zarr", 2, workers=1, progress=False)
    assert not (tmp_path / "d.zarr").exists() or not any((tmp_path / "d.zarr").iterdir())


def test_learn_train_on_a_damaged_store_is_a_clear_error(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("zarr")
    from robust_common import chunk_file

    from femeit import datasets
    from femeit.learn import TrainConfig, train

    config = datasets.load_config(write_config(tmp_path, replace=("shape = [8, 8]", "shape = [64, 64]")))
    path = tmp_path / "d.zarr"
    datasets.generate(config, path, 6, workers=1, chunk_size=3, progress=False)
    target = chunk_file(path, "eim", 1)
    target.write_bytes(target.read_bytes()[:10])
    with pytest.raises(FemeitError, match=r"cannot be read.*--repair"):
        train(path, tmp_path / "run", TrainConfig(epochs=1, batch_size=2), progress=False)
