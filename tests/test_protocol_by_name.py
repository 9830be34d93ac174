"""Protocol.by_name is the one protocol dispatcher: every name, every electrode count, CLI and datasets."""

import numpy as np
import pytest

from femeit.errors import FemeitError
from femeit.protocol import PROTOCOL_NAMES, Protocol

COUNTS = (8, 12, 16, 32)


@pytest.mark.parametrize("n_electrodes", COUNTS)
@pytest.mark.parametrize("name", PROTOCOL_NAMES)
def test_every_name_and_electrode_count(name, n_electrodes):
    p = Protocol.by_name(name, n_electrodes, current=0.5)
    assert p.n_electrodes == n_electrodes
    assert p.abmn is not None and p.abmn.min() >= 0 and p.abmn.max() < n_electrodes
    # The largest electrode index is used: a 32-electrode protocol is not a 16-electrode one padded.
    assert p.abmn.max() == n_electrodes - 1
    assert np.abs(p.injections).max() == 0.5
    direct = getattr(Protocol, name)(n_electrodes, current=0.5)
    np.testing.assert_array_equal(p.abmn, direct.abmn)


@pytest.mark.parametrize(
    ("name", "rows16"), [("adjacent", 208), ("opposite", 96), ("dipole_dipole", 104), ("schlumberger", 104)]
)
def test_published_row_counts_for_16_electrodes(name, rows16):
    assert Protocol.by_name(name, 16).n_rows == rows16


def test_bad_names_and_counts_are_clear_errors():
    with pytest.raises(FemeitError, match="unknown protocol 'adjacnt'"):
        Protocol.by_name("adjacnt", 16)
    with pytest.raises(FemeitError, match="even number"):
        Protocol.by_name("opposite", 15)
    with pytest.raises(FemeitError, match="integer"):
        Protocol.by_name("wenner", 16.0)
    with pytest.raises(FemeitError, match="at least"):
        Protocol.by_name("dipole_dipole", 3)


@pytest.mark.parametrize("name", PROTOCOL_NAMES)
def test_dataset_config_and_simulator_use_the_sensor_electrode_count(name, tmp_path):
    """The bug: dipole_dipole with 32 electrodes gave a 16-electrode protocol and wenner raised TypeError."""
    pytest.importorskip("zarr")
    from femeit import datasets
    from femeit.datasets.simulator import Simulator

    toml = f"""
seed = 1
[sensor]
kind = "circle"
radius = 1.0
n_electrodes = 32
electrode_width = 0.05
h = 0.3
h_electrode = 0.05
[forward]
protocol = "{name}"
[phantom]
shape = "circle"
background = 1.0
conductivity = [0.5, 2.0]
radius = [0.1, 0.2]
counts = {{ 1 = 2 }}
[image]
shape = [8, 8]
"""
    path = tmp_path / "c.toml"
    path.write_text(toml)
    sim = Simulator(datasets.load_config(path))
    assert sim.protocol.n_electrodes == 32
    np.testing.assert_array_equal(sim.protocol.abmn, Protocol.by_name(name, 32).abmn)
    assert sim.compute(0)["voltages"].shape == (sim.protocol.n_rows,)


def test_dataset_config_refuses_a_protocol_the_sensor_cannot_use(tmp_path):
    pytest.importorskip("zarr")
    from femeit import datasets

    data = {
        "sensor": {"kind": "circle", "radius": 1.0, "n_electrodes": 15, "electrode_width": 0.05},
        "forward": {"protocol": "opposite"},
        "phantom": {"shape": "circle", "conductivity": [0.5, 2.0], "radius": [0.1, 0.2], "counts": {"1": 2}},
    }
    with pytest.raises(FemeitError, match=r"forward\.protocol.*even number"):
        datasets.config_from_dict(data)
