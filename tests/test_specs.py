"""Geometry specs: validation, TOML round trips, clear errors."""

import dataclasses
from pathlib import Path

import pytest

import femeit as fe
from femeit.geometry.spec_io import spec_digest

GEOMETRIES = sorted((Path(__file__).parent.parent / "geometries").glob("*.toml"))


@pytest.mark.parametrize("path", GEOMETRIES, ids=lambda p: p.stem)
def test_ready_specs_load_and_round_trip(path):
    spec = fe.load_spec(path)
    assert fe.spec_from_dict(fe.spec_to_dict(spec)) == spec


def test_every_published_setup_has_a_spec():
    names = {p.stem for p in GEOMETRIES}
    for expected in (
        "gasulla2005_halfspace",
        "smdr_disk",
        "landweber_disk50mm",
        "kgpsr_cylinder",
        "cnn_eim_disk",
        "ktc2023_tank",
        "ball_ring",
    ):
        assert expected in names


def test_specs_are_frozen_and_hashable_values():
    a = fe.CircleSpec(radius=2, n_electrodes=8, electrode_width=0.1)
    assert a == fe.CircleSpec(radius=2.0, n_electrodes=8, electrode_width=0.1)
    assert isinstance(a.radius, float)
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.radius = 3.0
    assert spec_digest(a) == spec_digest(fe.CircleSpec(radius=2.0, n_electrodes=8, electrode_width=0.1))
    assert spec_digest(a) != spec_digest(fe.CircleSpec(radius=2.0, n_electrodes=8, electrode_width=0.11))


def test_cylinder_spec_round_trips_with_inclusions_of_every_type():
    spec = fe.CylinderSpec(
        rings=(fe.ElectrodeRing(z=0.03, shape="rectangle"), fe.ElectrodeRing(z=0.07, first_angle_deg=11.25)),
        inclusions=(
            fe.SphereInclusion(0.02, 0, 0.05, 0.015),
            fe.CylinderInclusion(-0.05, 0, 0.02, 0.08, 0.01),
            fe.BoxInclusion(0.0, 0.04, 0.02, 0.02, 0.06, 0.04, name="box"),
        ),
    )
    assert fe.spec_from_dict(fe.spec_to_dict(spec)) == spec


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda: fe.CircleSpec(radius=0), "radius must be positive"),
        (lambda: fe.CircleSpec(radius=-1), "radius must be positive"),
        (lambda: fe.CircleSpec(h=0), "h must be positive"),
        (lambda: fe.CircleSpec(radius=float("nan")), "radius must be finite"),
        (lambda: fe.CircleSpec(n_electrodes=0), "n_electrodes must be at least 1"),
        (lambda: fe.CircleSpec(n_electrodes=2.5), "n_electrodes must be a whole number"),
        (lambda: fe.CircleSpec(radius=1, n_electrodes=16, electrode_width=0.5), "overlap"),
        (lambda: fe.CircleSpec(inclusions=(fe.CircleInclusion(0.8, 0, 0.3),)), "crosses or touches the boundary"),
        (lambda: fe.CircleSpec(inclusions=(fe.CircleInclusion(0, 0, 0.3), fe.CircleInclusion(0.4, 0, 0.2))), "overlap"),
        (lambda: fe.CircleSpec(direction="up"), "direction"),
        (lambda: fe.CylinderSpec(rings=(fe.ElectrodeRing(z=0.005),)), "do not fit"),
        (lambda: fe.CylinderSpec(rings=(fe.ElectrodeRing(z=0.05, n_electrodes=40),)), "overlap"),
        (lambda: fe.CylinderSpec(rings=(fe.ElectrodeRing(z=0.05), fe.ElectrodeRing(z=0.06))), "overlapping"),
        (lambda: fe.CylinderSpec(inclusions=(fe.SphereInclusion(0.08, 0, 0.05, 0.03),)), "crosses or touches"),
        (lambda: fe.CylinderSpec(inclusions=(fe.BoxInclusion(0, 0, 0.05, 0.02, 0.02, 0.12),)), "crosses or touches"),
        (lambda: fe.HalfspaceLineSpec(dim=4), "dim must be 2 or 3"),
        (lambda: fe.HalfspaceLineSpec(spacing=-1), "spacing must be positive"),
        (lambda: fe.HalfspaceLineSpec(electrode_width=1.5), "overlap"),
        (lambda: fe.HalfspaceLineSpec(dim=3, inclusions=(fe.SphereInclusion(0, 0, -0.2, 0.5),)), "surface"),
        (lambda: fe.HalfspaceLineSpec(dim=2, inclusions=(fe.SphereInclusion(0, 0, -2, 0.5),)), "CircleInclusion"),
        (lambda: fe.BallSpec(inner_radius=1.0), "inner_radius"),
        (lambda: fe.BallSpec(electrode_radius=0.3, rings=(fe.BallRing(n_electrodes=16),)), "overlap"),
        (lambda: fe.BallSpec(rings=(fe.BallRing(polar_deg=0),)), "polar_deg"),
    ],
)
def test_bad_specs_name_the_problem(make, words):
    with pytest.raises(fe.SpecError, match=words):
        make()


def test_unknown_and_missing_keys_are_named(tmp_path):
    with pytest.raises(fe.SpecError, match=r"unknown key\(s\) \['raduis'\]"):
        fe.spec_from_dict({"kind": "circle", "raduis": 1.0})
    with pytest.raises(fe.SpecError, match="'kind' must be one of"):
        fe.spec_from_dict({"kind": "torus"})
    with pytest.raises(fe.SpecError, match=r"missing required key\(s\) \['z'\]"):
        fe.spec_from_dict({"kind": "cylinder", "rings": [{"n_electrodes": 8}]})
    with pytest.raises(fe.SpecError, match=r"inclusions\[0\].type"):
        fe.spec_from_dict({"kind": "cylinder", "inclusions": [{"type": "cone"}]})
    bad = tmp_path / "bad.toml"
    bad.write_text("kind = 'circle'\nradius = \n")
    with pytest.raises(fe.SpecError, match="not valid TOML"):
        fe.load_spec(bad)
    with pytest.raises(fe.SpecError, match="not found"):
        fe.load_spec(tmp_path / "missing.toml")
