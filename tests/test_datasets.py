import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import femeit as fe
from femeit import datasets

zarr = pytest.importorskip("zarr")

TOML = """
seed = 11

[sensor]
kind = "circle"
radius = 1.0
n_electrodes = 16
electrode_width = 0.1
h = 0.12
h_electrode = 0.05

[forward]
protocol = "adjacent"
contact_impedance = 0.01

[phantom]
shape = "circle"
background = 0.05
conductivity = [1e-4, 1e-2]
radius = [0.1, 0.3]
margin = 0.05
min_gap = 0.02
counts = { 1 = 30, 2 = 30, 3 = 20, 4 = 20 }

[noise]
snr_db = 40

[image]
shape = [16, 16]

[split]
holdout = [3]
validation = 0.2
test = 0.2
"""


@pytest.fixture
def config_path(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(TOML)
    return path


@pytest.fixture
def config(config_path):
    return datasets.load_config(config_path)


def read_all(path):
    ds = datasets.open(path)
    return {name: ds.group[name][:] for name in datasets.store.PER_SAMPLE if name in ds.group}


def test_samples_depend_only_on_seed_and_index(config):
    sampler = datasets.PhantomSampler(config)
    a, b = sampler.sample(17), sampler.sample(17)
    assert np.array_equal(a.objects, b.objects) and a.split == b.split and a.noise_seed == b.noise_seed
    counts = np.bincount([len(sampler.sample(i).objects) for i in range(100)], minlength=5)
    assert counts.tolist() == [0, 30, 30, 20, 20]  # exactly the configured counts
    for i in range(100):
        s = sampler.sample(i)
        centres, radii = s.objects[:, :2], s.objects[:, 2]
        assert np.all(np.linalg.norm(centres, axis=1) + radii <= 1.0 - 0.05 + 1e-12)
        gaps = np.linalg.norm(centres[:, None] - centres[None], axis=2) - radii[:, None] - radii[None]
        assert np.all(gaps[np.triu_indices(len(radii), 1)] >= 0.02 - 1e-12)
        assert (s.split == 3) == (len(radii) == 3)


def test_same_arrays_whatever_workers_and_chunks(config, tmp_path):
    one = datasets.generate(config, tmp_path / "a.zarr", 48, workers=1, chunk_size=48, progress=False)
    two = datasets.generate(config, tmp_path / "b.zarr", 48, workers=2, chunk_size=5, progress=False)
    assert one.computed == two.computed == 48
    a, b = read_all(tmp_path / "a.zarr"), read_all(tmp_path / "b.zarr")
    assert a.keys() == b.keys() and {"voltages", "eim", "images", "sigma", "objects"} <= a.keys()
    for name in a:
        assert np.array_equal(a[name], b[name], equal_nan=True), name
    ds = datasets.open(tmp_path / "b.zarr")
    assert ds.complete and ds.attrs["complete"] and len(ds) == 48
    assert ds.voltages.shape == (48, 208) and ds.eim.shape == (48, 16, 16) and ds.images.shape == (48, 16, 16)
    assert not np.array_equal(ds.voltages[:], ds.voltages_clean[:])  # noise was added
    assert np.allclose(
        ds.reference,
        fe.forward.ForwardModel(fe.mesh_from_spec(config.spec), fe.protocol.Protocol.adjacent(16), 0.01).simulate(0.05),
    )
    split = ds.split[:]
    assert set(ds.indices("heldout")) == set(np.flatnonzero(ds.n_objects[:] == 3))
    assert len(ds.indices("train")) + len(ds.indices("validation")) + len(ds.indices("test")) + np.sum(split == 3) == 48
    # A prefix of the same configuration holds the same samples.
    datasets.generate(config, tmp_path / "c.zarr", 20, workers=1, chunk_size=7, progress=False)
    c = read_all(tmp_path / "c.zarr")
    assert np.array_equal(c["voltages"], a["voltages"][:20])


def test_verify_detects_a_tampered_sample(config, tmp_path):
    path = tmp_path / "v.zarr"
    datasets.generate(config, path, 12, workers=1, chunk_size=4, progress=False)
    assert datasets.verify(path, indices=[0, 5, 11]).ok
    group = zarr.open_group(str(path), mode="r+")
    group["voltages"][5, 3] += 1e-9
    report = datasets.verify(path, indices=[0, 5, 11])
    assert not report.ok and any("sample 5: voltages" in p for p in report.problems)
    group["progress"][1] = False
    report = datasets.verify(path, indices=[0])
    assert not report.ok and report.missing_chunks == [1]


def test_resume_after_sigkill(config_path, config, tmp_path):
    path = tmp_path / "killed.zarr"
    cmd = [
        sys.executable,
        "-m",
        "femeit.cli",
        "dataset",
        "generate",
        str(config_path),
        "-o",
        str(path),
        "--workers",
        "1",
        "--chunk-size",
        "2",
        "--quiet",
    ]
    env = os.environ | {"FEMEIT_CACHE_DIR": os.environ["FEMEIT_CACHE_DIR"]}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    done = 0
    while time.time() < deadline and proc.poll() is None:
        try:
            done = int(zarr.open_group(str(path), mode="r")["progress"][:].sum())
        except Exception:
            done = 0
        if done >= 3:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be killed; make it longer"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    progress = zarr.open_group(str(path), mode="r")["progress"][:]
    assert 0 < progress.sum() < len(progress)
    subprocess.run(cmd, env=env, check=True, capture_output=True)
    fresh = tmp_path / "fresh.zarr"
    datasets.generate(config, fresh, workers=1, chunk_size=100, progress=False)
    resumed, reference = read_all(path), read_all(fresh)
    for name in reference:
        assert np.array_equal(resumed[name], reference[name], equal_nan=True), name
    assert datasets.verify(path, n_check=3).ok


def test_dask_local_cluster_gives_the_same_arrays(config, tmp_path):
    distributed = pytest.importorskip("dask.distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cl:
        datasets.generate(config, tmp_path / "d.zarr", 16, chunk_size=4, scheduler=cl.scheduler_address, progress=False)
    datasets.generate(config, tmp_path / "l.zarr", 16, workers=1, chunk_size=16, progress=False)
    d, loc = read_all(tmp_path / "d.zarr"), read_all(tmp_path / "l.zarr")
    for name in loc:
        assert np.array_equal(d[name], loc[name], equal_nan=True), name


def test_existing_store_with_another_config_is_refused(config, tmp_path):
    path = tmp_path / "s.zarr"
    datasets.generate(config, path, 4, workers=1, chunk_size=4, progress=False)
    with pytest.raises(fe.FemeitError, match="different configuration"):
        datasets.generate(config, path, 8, workers=1, chunk_size=4, progress=False)
    with pytest.raises(fe.FemeitError, match="chunk size 4"):
        datasets.generate(config, path, 4, workers=1, chunk_size=2, progress=False)
    report = datasets.generate(config, path, 4, workers=1, chunk_size=4, progress=False)
    assert report.computed == 0 and report.skipped == 4


@pytest.mark.parametrize(
    "edit, key",
    [
        ({"phantom": {"radius": [0.1, 0.96]}}, "phantom.radius"),
        ({"phantom": {"counts": {"60": 10}}}, "phantom.counts"),
        ({"phantom": {"radiuss": 0.2}}, "phantom.radiuss"),
        ({"extra": 1}, "extra"),
        ({"forward": {"protocol": "zigzag"}}, "forward.protocol"),
        ({"phantom": {"conductivity": -1.0}}, "phantom.conductivity"),
        ({"image": {"shape": [64]}}, "image.shape"),
        ({"split": {"validation": 0.6, "test": 0.5}}, "split"),
        ({"sensor": {"kind": "halfspace_line"}}, "sensor"),
        ({"forward": {"exact_readings": "false"}}, "forward.exact_readings"),
    ],
)
def test_bad_configs_name_the_key(config_path, edit, key):
    import tomllib

    data = tomllib.loads(config_path.read_text())
    for section, value in edit.items():
        if isinstance(value, dict) and section in data:
            data[section] = data[section] | value
        else:
            data[section] = value
    with pytest.raises(fe.FemeitError, match=key.replace(".", r"\.")):
        datasets.config_from_dict(data)


def test_exact_readings_reach_the_model_and_only_a_change_of_them_changes_the_dataset(config_path):
    import tomllib

    from femeit.datasets.config import config_json
    from femeit.datasets.simulator import Simulator

    data = tomllib.loads(config_path.read_text())
    default = datasets.config_from_dict(data)
    assert default.exact_readings is True
    data["forward"]["exact_readings"] = True
    assert config_json(datasets.config_from_dict(data)) == config_json(default)  # datasets made before keep their key
    data["forward"]["exact_readings"] = False
    plain = datasets.config_from_dict(data)
    assert plain.exact_readings is False and config_json(plain) != config_json(default)
    assert Simulator(plain).model.exact_readings is False
    assert Simulator(default).model.exact_readings is True


def test_ready_configs_load():
    root = Path(__file__).resolve().parents[1] / "datasets"
    cnn = datasets.load_config(root / "cnn_eim.toml")
    assert cnn.total_samples() == 29511 and cnn.holdout == (3,)
    assert cnn.phantom.counts == {1: 5261, 2: 7771, 3: 7997, 4: 8482}
    cyl = datasets.load_config(root / "cylinder_spheres.toml")
    assert cyl.spec.dim == 3 and cyl.total_samples() == 1000


def test_cli_generate_and_verify(config_path, tmp_path, capsys):
    from femeit.cli import main

    path = tmp_path / "cli.zarr"
    assert (
        main(
            [
                "dataset",
                "generate",
                str(config_path),
                "-o",
                str(path),
                "--n",
                "6",
                "--workers",
                "1",
                "--chunk-size",
                "3",
                "--quiet",
            ]
        )
        == 0
    )
    assert main(["dataset", "verify", str(path), "--samples", "2"]) == 0
    assert "OK" in capsys.readouterr().out
    assert main(["dataset", "generate", str(config_path), "-o", str(path), "--n", "500"]) == 2


def test_store_has_dimension_names_units_and_provenance(config, tmp_path):
    out = tmp_path / "meta.zarr"
    datasets.generate(config, out, 4, chunk_size=2, workers=1, progress=False)
    group = zarr.open_group(str(out), mode="r")
    assert group["voltages"].metadata.dimension_names == ("sample", "reading")
    assert group["images"].metadata.dimension_names == ("sample", "row", "column")
    assert group["image_mask"].metadata.dimension_names == ("row", "column")
    assert group["voltages"].attrs["units"] == "V" and group["images"].attrs["units"] == "S/m"
    assert group.attrs["sensor_kind"] == "circle" and "femeit" in group.attrs["source"]
    # Every root array names all of its dimensions, and a shared name means a shared length.
    lengths = {}
    for name, array in group.arrays():
        dims = array.metadata.dimension_names
        assert dims is not None and len(dims) == array.ndim, name
        for dim, n in zip(dims, array.shape, strict=True):
            assert lengths.setdefault(dim, n) == n, (name, dim)


def test_store_opens_in_xarray(config, tmp_path):
    xr = pytest.importorskip("xarray")
    out = tmp_path / "xr.zarr"
    datasets.generate(config, out, 4, chunk_size=2, workers=1, progress=False)
    ds = xr.open_zarr(out, consolidated=False)
    assert ds["voltages"].dims == ("sample", "reading") and ds.sizes["sample"] == 4
    assert ds["images"].attrs["units"] == "S/m"
    np.testing.assert_array_equal(ds["voltages"].values, zarr.open_group(str(out), mode="r")["voltages"][:])


def test_recomputation_tolerance_is_for_floating_point_only():
    from femeit.datasets.runner import RECOMPUTE_RTOL, same_sample

    v = np.array([1.0, -2.0, 3.0, np.nan])
    assert same_sample(v, v + np.array([3e-15, -2e-15, 0.0, 0.0]))  # reduction-order noise passes
    assert not same_sample(v, v + np.array([0.0, 0.0, 3.0 * 10 * RECOMPUTE_RTOL, 0.0]))
    assert not same_sample(v, np.array([1.0, -2.0, 3.0, 0.0]))  # NaN pattern changed
    assert not same_sample(np.array([1, 2], dtype=np.int8), np.array([1, 3], dtype=np.int8))
    assert same_sample(np.array([1, 2], dtype=np.int8), np.array([1, 2], dtype=np.int8))


OUTLINE_TOML = """
seed = 3
[sensor]
kind = "extruded"
outline = { shape = "ellipse", a = 0.15, b = 0.10 }
height = 0.2
h = 0.06
rings = [
  { n_electrodes = 8, shape = "rectangle", width = 0.02, height = 0.02, z = 0.07 },
  { n_electrodes = 8, shape = "rectangle", width = 0.02, height = 0.02, z = 0.13 },
]
[forward]
protocol = "cross_ring"
[phantom]
shape = "sphere"
background = 0.3
conductivity = 0.05
radius = [0.02, 0.04]
margin = 0.01
n_objects = [1, 2]
[image]
shape = [16, 24]
depth = 9
"""


def test_outline_sensor_with_a_ring_protocol_generates_and_verifies(tmp_path):
    path = tmp_path / "thorax.toml"
    path.write_text(OUTLINE_TOML)
    config = datasets.load_config(path)
    sampler = datasets.PhantomSampler(config)
    for i in range(20):
        objects = sampler.sample(i).objects
        # Every sphere lies inside the ellipse with the margin (its centre at least margin + r from the wall).
        xy, r = objects[:, :2], objects[:, 3]
        assert np.all(sampler.region.outline.distance(xy) >= 0.01 + r - 1e-12)
        assert np.all(sampler.region.inside(xy))
    datasets.generate(config, tmp_path / "t.zarr", 4, workers=1, chunk_size=2, progress=False)
    group = zarr.open_group(str(tmp_path / "t.zarr"), mode="r")
    assert group["voltages"].shape == (4, 8 * 7) and group["images"].shape == (4, 16, 24)
    mask = group["image_mask"][:]
    assert not mask[0, 0] and mask[8, 12]  # a corner of the bounding box is outside the ellipse, the centre inside
    volumes = group["volumes"][:]
    assert volumes.shape == (4, 9, 16, 24) and group["volumes"].metadata.dimension_names[1] == "layer"
    # The middle layer (z = 0.1) is the mid-height slice image.
    np.testing.assert_array_equal(volumes[:, 4], group["images"][:])
    # Voxels 0.0125 x 0.0125 x 0.022 m: every sphere (radius >= 0.02 m) holds a voxel centre.
    assert np.all(volumes.min(axis=(1, 2, 3)) < 0.3)
    assert datasets.verify(tmp_path / "t.zarr", n_check=1).ok


@pytest.mark.parametrize(
    "path", sorted((Path(__file__).parent.parent / "datasets").glob("*.toml")), ids=lambda p: p.stem
)
def test_shipped_dataset_configs_load(path):
    config = datasets.load_config(path)
    assert config.total_samples() and config.spec.n_electrodes >= 16
