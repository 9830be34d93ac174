"""Issue 20, item 5: `femeit learn` sizes its networks from the store (any electrode count, image size,
protocol and voxel volumes) or refuses with a message naming the mismatch."""

from __future__ import annotations

import numpy as np
import pytest

import femeit as fe
from femeit import datasets
from femeit.protocol import Protocol

torch = pytest.importorskip("torch")
learn = pytest.importorskip("femeit.learn")
pytest.importorskip("zarr")

TOML = """
seed = 4
[sensor]
kind = "circle"
radius = 1.0
n_electrodes = {n}
electrode_width = 0.1
h = 0.2
h_electrode = 0.08
[forward]
protocol = "{protocol}"
[phantom]
background = 0.05
conductivity = 1e-4
radius = [0.2, 0.35]
margin = 0.05
n_objects = [1, 2]
[image]
shape = [{rows}, {cols}]
[split]
validation = 0.25
test = 0.25
"""


def _dataset(folder, n=12, protocol="adjacent", rows=24, cols=40, samples=16):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "c.toml"
    path.write_text(TOML.format(n=n, protocol=protocol, rows=rows, cols=cols))
    store = folder / "d.zarr"
    datasets.generate(datasets.load_config(path), store, samples, workers=1, chunk_size=samples, progress=False)
    return store


@pytest.fixture(scope="module")
def twelve(tmp_path_factory):
    return _dataset(tmp_path_factory.mktemp("twelve"))


def test_printed_sizes_build_the_printed_networks():
    # 16 electrodes, 64 x 64: no pooling layer is added, so the encoder is the paper's (Table I).
    _, net = learn.build("cnn-eim")
    assert not any(isinstance(m, torch.nn.AdaptiveAvgPool2d) for m in net.modules())
    _, fc = learn.build("fcnn-eiv")
    assert [m.out_features for m in fc.modules() if isinstance(m, torch.nn.Linear)] == [256, 512, 1024, 2048, 4096]


@pytest.mark.parametrize(
    ("name", "sizes", "x_shape", "y_shape"),
    [
        ("cnn-eim", {"map_size": 12, "out_shape": (24, 40)}, (2, 1, 12, 12), (2, 1, 24, 40)),
        ("cnn-reim", {"map_size": 32, "out_shape": (64, 64)}, (2, 1, 32, 32), (2, 1, 64, 64)),
        ("fcnn-eiv", {"n_inputs": 60, "out_shape": (30, 20), "out_channels": 3}, (2, 60), (2, 3, 30, 20)),
    ],
)
def test_networks_are_sized_by_their_arguments(name, sizes, x_shape, y_shape):
    _, net = learn.build(name, **sizes)
    net.eval()
    assert tuple(net(torch.randn(*x_shape)).shape) == y_shape


def test_impossible_sizes_are_refused():
    with pytest.raises(fe.FemeitError, match="at least 4 x 4"):
        learn.build("cnn-eim", map_size=3)
    with pytest.raises(fe.FemeitError, match="output"):
        learn.build("fcnn-eiv", out_shape=(0, 8))


def test_twelve_electrodes_and_rectangular_images_train_through_the_cli(twelve, tmp_path):
    from femeit.cli import main

    for network in ("cnn-eim", "fcnn-eiv"):
        run = tmp_path / network
        args = ["learn", "train", str(twelve), "-o", str(run), "--network", network, "--epochs", "1"]
        assert main([*args, "--batch-size", "4", "--quiet"]) == 0
        rec = learn.Reconstructor(run)
        ds = datasets.open(twelve)
        images = rec(ds.voltages[:3], ds.reference, Protocol.from_abmn(ds.abmn, 12))
        assert images.shape == (3, 24, 40) and np.all(np.isfinite(images))
        assert main(["learn", "eval", str(run), str(twelve), "--examples", "2"]) == 0


def test_a_run_refuses_data_of_another_sensor(twelve, tmp_path):
    run = tmp_path / "run"
    learn.train(twelve, run, learn.TrainConfig(network="cnn-eim", epochs=1, batch_size=4), progress=False)
    sixteen = _dataset(tmp_path / "sixteen", n=16, rows=24, cols=40, samples=8)
    with pytest.raises(fe.FemeitError, match="inputs of shape"):
        learn.evaluate(run, sixteen)
    ds = datasets.open(sixteen)
    with pytest.raises(fe.FemeitError, match="12-electrode impedance maps; this protocol has 16"):
        learn.Reconstructor(run)(ds.voltages[:1], ds.reference, Protocol.from_abmn(ds.abmn, 16))


def test_cnns_need_impedance_maps_and_fcnn_takes_any_protocol(tmp_path):
    store = _dataset(tmp_path / "opposite", n=8, protocol="opposite", rows=16, cols=16, samples=8)
    with pytest.raises(fe.FemeitError, match="adjacent protocol"):
        learn.train(store, tmp_path / "cnn", learn.TrainConfig(network="cnn-eim", epochs=1), progress=False)
    history = learn.train(store, tmp_path / "fc", learn.TrainConfig(network="fcnn-eiv", epochs=1), progress=False)
    assert np.isfinite(history["loss"][0])
    rows = Protocol.by_name("opposite", 8).n_rows
    assert learn.Reconstructor(tmp_path / "fc").model.n_inputs <= rows


def test_voxel_volumes_are_learned_as_channels(tmp_path):
    from test_datasets import OUTLINE_TOML

    path = tmp_path / "thorax.toml"
    path.write_text(OUTLINE_TOML.replace("h = 0.06", "h = 0.08").replace("depth = 9", "depth = 3"))
    store = tmp_path / "v.zarr"
    datasets.generate(datasets.load_config(path), store, 8, workers=1, chunk_size=8, progress=False)
    run = tmp_path / "run"
    learn.train(store, run, learn.TrainConfig(network="fcnn-eiv", epochs=1, batch_size=4), progress=False)
    rec = learn.Reconstructor(run)
    assert rec.sizes["target"] == "volumes" and rec.model.out_channels == 3
    ds = datasets.open(store)
    protocol = Protocol.from_abmn(ds.abmn, int(ds.abmn.max()) + 1)
    assert rec(ds.voltages[:2], ds.reference, protocol).shape == (2, 3, 16, 24)
    # From the CLI: the network's volume is saved whole, its middle layer drawn.
    from femeit.cli import main

    sensor = OUTLINE_TOML.split("[sensor]")[1].split("[forward]")[0].replace("h = 0.06", "h = 0.08")
    (tmp_path / "tank.toml").write_text(sensor)
    np.savez(tmp_path / "v.npz", voltages=ds.voltages[0])
    np.savez(tmp_path / "v0.npz", voltages=ds.reference)
    args = ["reconstruct", str(tmp_path / "tank.toml"), "--data", str(tmp_path / "v.npz")]
    args += ["--reference", str(tmp_path / "v0.npz"), "--protocol", "cross_ring", "--solver", "fcnn-eiv"]
    assert main([*args, "--model", str(run), "-o", str(tmp_path / "img")]) == 0
    assert np.load(tmp_path / "img.npz")["image"].shape == (3, 16, 24)
    with pytest.raises(fe.FemeitError, match="no 'volumes' array"):
        learn.prepare(_dataset(tmp_path / "flat", samples=4), "fcnn-eiv", target="volumes")
