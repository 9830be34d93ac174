"""The learned KTC2023 pipeline: tank dataset options, the U-Net, a tiny seeded training run, the shipped weights."""

from pathlib import Path

import numpy as np
import pytest

from femeit import datasets
from femeit import ktc2023 as ktc
from femeit.datasets.outlines import N_ANGLES, StarShape, random_outline
from femeit.errors import FemeitError

torch = pytest.importorskip("torch")
pytest.importorskip("zarr")

from femeit.learn.ktc_inputs import INPUT_SHAPE, LevelInputs  # noqa: E402
from femeit.learn.ktc_pipeline import WEIGHTS, LearnedKTC  # noqa: E402
from femeit.learn.ktc_training import KTCTrainConfig, class_maps, load, train  # noqa: E402
from femeit.learn.ktc_unet import KTCUNet, upsample_labels  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
N_PIX = INPUT_SHAPE[0] * INPUT_SHAPE[1]


def tiny_config(seed: int = 5) -> dict:
    """The tank dataset's options on a coarse mesh (a few hundred elements)."""
    return {
        "seed": seed,
        "n_samples": 10,
        "sensor": {
            "kind": "circle",
            "radius": 0.115,
            "n_electrodes": 32,
            "electrode_width": 0.0113,
            "first_angle_deg": 90.0,
            "direction": "ccw",
            "h": 0.03,
            "h_electrode": 0.005,
        },
        "forward": {"protocol_file": "ktc2023_protocol.npz", "contact_impedance": 6.3e-7},
        "phantom": {
            "shape": "mixed",
            "background": 7.9e-4,
            "conductivity": [7.9e-8, 7.9e-6],
            "both_signs": True,
            "radius": [0.015, 0.04],
            "margin": 0.008,
            "min_gap": 0.008,
            "n_objects": [1, 4],
        },
        "noise": {"relative": 0.0108, "floor": 0.0108},
        "image": {"shape": [16, 16]},
        "split": {"validation": 0.2},
    }


@pytest.fixture(scope="module")
def protocol():
    return ktc.load_level(1).reference.protocol


@pytest.fixture(scope="module")
def fake_inputs(protocol):
    """Operators of the right shapes (random, seeded): the network path without a 1-minute calibration."""
    rng = np.random.default_rng(0)
    ops = {}
    for level in (1, 7):
        mask = ktc.usable_rows(protocol, level)
        ops[level] = (rng.standard_normal((N_PIX, protocol.n_rows)) * mask * 1e2, np.full(N_PIX, 0.5))
    return LevelInputs.from_operators(protocol, ops)


@pytest.fixture(scope="module")
def tiny_store(tmp_path_factory):
    config = datasets.config_from_dict(tiny_config(), base=ROOT / "datasets")
    path = tmp_path_factory.mktemp("ktc") / "tiny.zarr"
    datasets.generate(config, path, workers=1, progress=False)
    return path


def test_mixed_outlines_stay_in_their_bounding_circle_and_contain_the_centre():
    rng = np.random.default_rng(1)
    for _ in range(30):
        r = random_outline(rng, 0.03)
        assert r.shape == (N_ANGLES,) and r.max() <= 0.03 + 1e-12 and r.min() > 0.1 * 0.03
        shape = StarShape((0.01, -0.02), r)
        assert shape.contains(np.array([[0.01, -0.02], [0.01 + 0.031, -0.02]])).tolist() == [True, False]
    with pytest.raises(FemeitError, match="positive finite radii"):
        StarShape((0, 0), -np.ones(N_ANGLES))


def test_tank_dataset_options_are_checked():
    bad = tiny_config()
    bad["phantom"]["both_signs"] = "yes"
    with pytest.raises(FemeitError, match=r"phantom\.both_signs"):
        datasets.config_from_dict(bad, base=ROOT / "datasets")
    bad = tiny_config()
    bad["noise"]["snr_db"] = 40
    with pytest.raises(FemeitError, match="noise"):
        datasets.config_from_dict(bad, base=ROOT / "datasets")


def test_tank_dataset_has_both_signs_the_measured_noise_and_exact_class_maps(tiny_store):
    ds = datasets.open(tiny_store)
    objects = np.asarray(ds.group["objects"][:])
    sigma = objects[..., -1][np.isfinite(objects[..., -1])]
    bg = 7.9e-4
    assert (sigma < bg).any() and (sigma > bg).any()
    assert np.all((sigma / bg < 1.01e-2) | (sigma / bg > 0.99e2))
    noise = np.asarray(ds.voltages[:]) - np.asarray(ds.group["voltages_clean"][:])
    ref = np.asarray(ds.reference)
    expected = 0.0108 * np.sqrt(ref**2 + np.abs(ref).mean() ** 2)
    assert 0.8 < np.std(noise / expected) < 1.2
    maps = class_maps(ds, np.arange(len(objects)), (32, 32))
    assert set(np.unique(maps)) == {0, 1, 2}
    # The labels follow the stored phantom images (S/m) where a pixel is all water, all plastic or all metal
    # (a pixel 5 % covered by metal averages to 100s of times the water: no label there).
    images = np.asarray(ds.group["images"][:])
    coarse = class_maps(ds, np.arange(len(objects)), images.shape[1:])
    top = np.nanmax(objects[..., -1], axis=1)[:, None, None]
    certain = np.isclose(images, bg, rtol=1e-5) | (images < 0.01 * bg) | (images > 0.999 * top)
    pure = images[certain]
    assert np.array_equal(coarse[certain], np.where(pure < 0.5 * bg, 1, np.where(pure > 2 * bg, 2, 0)))
    assert certain.mean() > 0.8


def test_unet_shapes_and_labels():
    model = KTCUNet(3, 4).eval()
    with torch.no_grad():
        logits = model(torch.zeros(2, 3, 32, 32))
    assert logits.shape == (2, 3, 32, 32)
    labels = upsample_labels(logits)
    assert labels.shape == (2, 256, 256) and set(np.unique(labels.numpy())) <= {0, 1, 2}
    with pytest.raises(FemeitError, match="multiples of 4"):
        model(torch.zeros(1, 3, 30, 30))


def test_tiny_training_is_seeded_and_reproducible(tiny_store, fake_inputs, tmp_path):
    cfg = KTCTrainConfig(epochs=1, batch_size=4, width=4, seed=3)
    # Only levels 1 and 7 have operators here: draw from those by giving the run only their masks.
    runs = []
    for name, config in (("a", cfg), ("b", cfg), ("c", KTCTrainConfig(epochs=1, batch_size=4, width=4, seed=4))):
        hist = train(tiny_store, tmp_path / name, config, inputs=fake_inputs, progress=False, levels=(1, 7))
        runs.append((hist["train_loss"][0], load(tmp_path / name).state_dict()))
    (la, wa), (lb, wb), (lc, _) = runs
    assert la == lb and all(torch.equal(wa[k], wb[k]) for k in wa)
    assert la != lc


def test_training_device_is_checked_and_auto_falls_back_to_the_cpu(tiny_store, fake_inputs, tmp_path):
    from femeit.learn.ktc_training import _device

    with pytest.raises(FemeitError, match="device must be"):
        _device("tpu")
    if torch.cuda.is_available():
        assert _device("auto").type == "cuda"
        return
    with pytest.raises(FemeitError, match="no CUDA GPU"):
        train(tiny_store, tmp_path / "g", KTCTrainConfig(epochs=1, width=4, device="cuda"), inputs=fake_inputs)
    # Without a GPU, auto is the CPU run: the same weights as device="cpu".
    runs = []
    for device in ("cpu", "auto"):
        config = KTCTrainConfig(epochs=1, batch_size=4, width=4, seed=3, device=device)
        train(tiny_store, tmp_path / device, config, inputs=fake_inputs, progress=False, levels=(1, 7))
        runs.append(load(tmp_path / device).state_dict())
    assert all(torch.equal(runs[0][k], runs[1][k]) for k in runs[0])


def test_shipped_weights_give_a_three_class_map(fake_inputs):
    assert WEIGHTS.is_file() and WEIGHTS.stat().st_size < 5e6
    model = load(WEIGHTS)
    assert not model.training
    assert not torch.allclose(model.enc1[1].running_var, torch.ones(model.width))  # trained, not a fresh network
    pipeline = LearnedKTC(fake_inputs, model)
    level = ktc.load_level(1)
    dv = level.data[1].voltages - level.reference.voltages
    labels = pipeline.segment(dv, 1)
    assert labels.shape == (256, 256) and set(np.unique(labels)) <= {0, 1, 2}
    assert labels[0, 0] == 0 and labels[255, 255] == 0  # outside the tank: water
    assert pipeline.segment(np.stack([dv, dv]), 1).shape == (2, 256, 256)


def test_bad_inputs_name_the_problem(fake_inputs, protocol, tmp_path):
    pipeline = LearnedKTC(fake_inputs, KTCUNet(3, 4).eval())
    with pytest.raises(FemeitError, match="2356 readings"):
        pipeline.segment(np.zeros(2300), 1)
    dv = np.zeros(protocol.n_rows)
    mask7 = ktc.usable_rows(protocol, 7)
    dv[~mask7] = np.nan  # missing rows of the removed electrodes: fine at level 7
    assert pipeline.segment(dv, 7).shape == (256, 256)
    with pytest.raises(FemeitError, match="NaN or infinite values on rows usable at level 1"):
        pipeline.segment(dv, 1)  # NaN beyond level 1's mask
    with pytest.raises(FemeitError, match="level must be one of"):
        pipeline.segment(np.zeros(protocol.n_rows), 9)
    junk = tmp_path / "model.pt"
    junk.write_bytes(b"not torch")
    with pytest.raises(FemeitError, match="not a ktc-unet weights file"):
        load(junk)
