import dataclasses
import subprocess
import sys

import numpy as np
import pytest

import femeit as fe
from femeit import datasets
from femeit.forward import ForwardModel
from femeit.phantom import Disk, Phantom
from femeit.protocol import Protocol

torch = pytest.importorskip("torch")
learn = pytest.importorskip("femeit.learn")

TOML = """
seed = 3
[sensor]
kind = "circle"
radius = 1.0
n_electrodes = 16
electrode_width = 0.1
h = 0.15
h_electrode = 0.06
[phantom]
background = 0.05
conductivity = 1e-4
radius = [0.15, 0.3]
margin = 0.05
n_objects = [1, 2]
[image]
shape = [64, 64]
[split]
validation = 0.2
test = 0.2
"""


def test_import_femeit_without_torch():
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "import femeit, femeit.cli, femeit.datasets, femeit.inverse, femeit.forward\n"
        "assert 'torch' not in [m for m in sys.modules if sys.modules[m] is not None]\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_eim_rotates_with_the_phantom():
    # Rotating the object by one electrode pitch shifts the map one step down its diagonal.
    mesh = fe.mesh_from_spec(fe.CircleSpec(radius=1.0, electrode_width=0.1, h=0.04, h_electrode=0.02))
    protocol = Protocol.adjacent(16)
    model = ForwardModel(mesh, protocol, 0.01)
    reference = model.simulate(0.05)
    step = 2 * np.pi / 16
    maps = []
    for k in (0, 1):
        angle = 0.4 + k * step
        phantom = Phantom(0.05, ((Disk((0.5 * np.cos(angle), 0.5 * np.sin(angle)), 0.25), 1e-4),))
        v = model.simulate(phantom.on_mesh(mesh, level=3))
        maps.append(learn.calibrate(protocol.to_eim(v), protocol.to_eim(reference)))
    shifted = np.roll(maps[0], (1, 1), axis=(0, 1))
    scale = np.abs(maps[0]).max()
    assert np.abs(maps[1] - shifted).max() < 0.03 * scale  # mesh asymmetry only
    assert np.abs(maps[1] - maps[0]).max() > 0.3 * scale  # the map did change
    assert np.count_nonzero(maps[0]) == 208


def test_shapes_and_parameter_counts():
    sizes = {}
    for name, (kind, _) in learn.NETWORKS.items():
        kind, net = learn.build(name)
        x = torch.zeros(3, 104) if kind == "eiv" else torch.zeros(3, 1, 16, 16)
        net.eval()
        assert net(x).shape == (3, 1, 64, 64)
        sizes[name] = learn.count_parameters(net)
    # Table I's ratios fix the convolution widths: e.g. conv2 has 64*128*9 + 128 parameters.
    conv = [m for m in learn.CNNEIM().modules() if isinstance(m, torch.nn.Conv2d)]
    assert [sum(p.numel() for p in c.parameters()) for c in conv] == [640, 73856, 295168, 590080, 590080]
    assert sizes["cnn-eim"] == sizes["cnn-reim"] < sizes["fcnn-eiv"] / 5


def test_normalizer_and_calibration():
    rng = np.random.default_rng(0)
    data = rng.normal(3.0, 2.0, (500, 4, 4))
    data[:, 0, 0] = 0.0
    norm = learn.Normalizer.fit(data)
    z = norm(data)
    assert np.allclose(z[:, 1:, 1:].mean(axis=0), 0, atol=1e-12) and np.allclose(z[:, 1:, 1:].std(axis=0), 1)
    assert np.all(z[:, 0, 0] == 0)
    assert np.allclose(learn.calibrate(np.array([2.0, 0.0, 3.0]), np.array([1.0, 0.0, 2.0])), [1.0, 0.0, 0.5])
    with pytest.raises(fe.FemeitError, match="NaN"):
        learn.calibrate(np.array([np.nan, 1.0]), np.ones(2))


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("learn")
    (root / "c.toml").write_text(TOML)
    path = root / "tiny.zarr"
    datasets.generate(datasets.load_config(root / "c.toml"), path, 48, workers=1, chunk_size=48, progress=False)
    return path


@pytest.mark.parametrize("network", ["cnn-eim", "fcnn-eiv", "cnn-reim"])
def test_training_reduces_the_loss_and_round_trips(tiny_dataset, tmp_path, network):
    run = tmp_path / network
    config = learn.TrainConfig(network=network, epochs=3, batch_size=8, learning_rate=2e-3)
    history = learn.train(tiny_dataset, run, config, progress=False)
    assert history["loss"][-1] < history["loss"][0]
    assert history["recon"][-1] < history["recon"][0]
    rec = learn.Reconstructor(run)
    ds = datasets.open(tiny_dataset)
    protocol = Protocol.from_abmn(ds.abmn, 16)
    images = rec(ds.voltages[:5], ds.reference, protocol)
    data = learn.prepare(tiny_dataset, network, normalizer=rec.normalizer)
    again = learn.training.predict(rec.model, data.inputs["train"][:3])
    fresh = learn.Reconstructor(run)  # a second load gives the same network
    assert np.array_equal(learn.training.predict(fresh.model, data.inputs["train"][:3]), again)
    assert images.shape == (5, 64, 64) and np.all(np.isfinite(images))
    scores = learn.evaluate(run, tiny_dataset)
    assert scores["train"] == pytest.approx(history["mse_train"][-1], rel=1e-5)
    # Resuming a finished run trains no further and keeps the history.
    again_history = learn.train(tiny_dataset, run, config, progress=False)
    assert again_history["loss"] == history["loss"]


def test_same_seed_same_weights(tiny_dataset, tmp_path):
    config = learn.TrainConfig(network="cnn-eim", epochs=1, batch_size=16)
    a = learn.train(tiny_dataset, tmp_path / "a", config, progress=False)
    b = learn.train(tiny_dataset, tmp_path / "b", config, progress=False)
    assert a["loss"] == b["loss"]
    # Extending a run by an epoch gives what two epochs in one call give.
    two = dataclasses.replace(config, epochs=2)
    extended = learn.train(tiny_dataset, tmp_path / "a", two, progress=False)
    straight = learn.train(tiny_dataset, tmp_path / "c", two, progress=False)
    assert extended["loss"] == straight["loss"] and len(extended["loss"]) == 2
    with pytest.raises(fe.FemeitError, match="other settings"):
        learn.train(tiny_dataset, tmp_path / "a", dataclasses.replace(two, learning_rate=1e-2), progress=False)
    with pytest.raises(fe.FemeitError, match="already trained 2 epochs"):
        learn.train(tiny_dataset, tmp_path / "a", config, progress=False)


def test_cli_learn_and_reconstruct(tiny_dataset, tmp_path, capsys):
    from femeit.cli import main

    run = tmp_path / "run"
    assert (
        main(["learn", "train", str(tiny_dataset), "-o", str(run), "--epochs", "1", "--batch-size", "8", "--quiet"])
        == 0
    )
    assert main(["learn", "eval", str(run), str(tiny_dataset), "--examples", "2"]) == 0
    assert (run / "metrics.json").exists() and (run / "examples_test.png").exists()
    ds = datasets.open(tiny_dataset)
    np.savez(tmp_path / "v.npz", voltages=ds.voltages[0])
    np.savez(tmp_path / "v0.npz", voltages=ds.reference)
    spec = tmp_path / "disk.toml"
    spec.write_text('kind = "circle"\nradius = 1.0\nn_electrodes = 16\nelectrode_width = 0.1\nh = 0.15\n')
    out = tmp_path / "img"
    assert (
        main(
            [
                "reconstruct",
                str(spec),
                "--data",
                str(tmp_path / "v.npz"),
                "--reference",
                str(tmp_path / "v0.npz"),
                "--solver",
                "cnn-eim",
                "--model",
                str(run),
                "-o",
                str(out),
            ]
        )
        == 0
    )
    assert np.load(out.with_suffix(".npz"))["image"].shape == (64, 64)
    assert (
        main(
            [
                "reconstruct",
                str(spec),
                "--data",
                str(tmp_path / "v.npz"),
                "--reference",
                str(tmp_path / "v0.npz"),
                "--solver",
                "cnn-eim",
            ]
        )
        == 2
    )
    assert "needs --model" in capsys.readouterr().err


def test_fresh_decoder_predicts_the_blank_image():
    # PyTorch's default ConvTranspose2d init takes fan-in = out_channels * 4 (4 for the
    # output layer); that gave fresh networks outputs of std ~1.5 and stalled CNN-EIM.
    for name in learn.NETWORKS:
        kind, net = learn.build(name)
        x = torch.randn(4, 104) if kind == "eiv" else torch.randn(4, 1, 16, 16)
        assert torch.count_nonzero(net(x)) == 0
        for layer in net.modules():
            if isinstance(layer, torch.nn.ConvTranspose2d):
                assert layer.weight.abs().max() <= 1 / np.sqrt(layer.in_channels)


def test_cnn_eim_overfits_a_handful_of_samples(tiny_dataset):
    # With the paper's loss and learning rate, 8 samples are fitted well below the
    # mean-image error within 40 full-batch steps (the default init stayed above it).
    data = learn.prepare(tiny_dataset, "cnn-eim")
    x = torch.from_numpy(data.inputs["train"][:8])
    y = torch.from_numpy(data.targets["train"][:8])
    torch.manual_seed(0)
    _, net = learn.build("cnn-eim")
    optimiser = torch.optim.Adam(net.parameters(), lr=5e-4)
    for _ in range(40):
        terms = learn.loss_terms(net, net(x), y)
        loss = terms["recon"] + 500 * terms["tv"] + 1e-5 * terms["l2"]
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    with torch.no_grad():
        fitted = float(((net(x) - y) ** 2).mean())
    assert fitted < 0.3 * float(((y - y.mean(0)) ** 2).mean())


def test_mse_over_a_mask_averages_only_the_masked_pixels():
    from femeit.learn.training import mse

    pred = np.zeros((2, 1, 4, 4))
    target = np.zeros((2, 1, 4, 4))
    target[..., 0, 0] = 2.0  # an error outside the mask only
    target[..., 1, 1] = 1.0  # inside
    mask = np.zeros((4, 4), dtype=bool)
    mask[1:3, 1:3] = True
    assert mse(pred, target) == pytest.approx((4 + 1) / 16)
    assert mse(pred, target, mask) == pytest.approx(1 / 4)
    with pytest.raises(fe.FemeitError, match="mask"):
        mse(pred, target, np.zeros((3, 3), dtype=bool))
