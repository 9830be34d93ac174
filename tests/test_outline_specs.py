"""Specs of any outline (issue 20): outlines, electrode placement, meshes, TOML, bad specs."""

import math

import numpy as np
import pytest
from scipy.special import ellipe

import femeit as fe
from femeit.errors import SpecError
from femeit.geometry.outline import Outline
from femeit.geometry.outline_specs import (
    ContourSpec,
    EllipseInclusion,
    EllipsoidInclusion,
    ExtrudedSpec,
    OutlineRing,
    PolygonInclusion,
    PrismInclusion,
)

ELLIPSE = Outline("ellipse", a=0.15, b=0.10)
SQUARE = Outline("polygon", points=((-0.1, -0.1), (0.1, -0.1), (0.1, 0.1), (-0.1, 0.1)))
BLOB = Outline("spline", points=((0.1, 0.0), (0.05, 0.08), (-0.05, 0.09), (-0.12, 0.0), (-0.05, -0.08), (0.05, -0.07)))


def test_ellipse_perimeter_and_angles_are_exact():
    exact = 4 * 0.15 * ellipe(1 - (0.10 / 0.15) ** 2)
    assert abs(ELLIPSE.perimeter - exact) / exact < 1e-6
    s = ELLIPSE.arc_at_angle([0.0, 90.0, 180.0, 270.0])
    assert np.allclose(s / exact, [0.0, 0.25, 0.5, 0.75], atol=1e-6)
    pts = ELLIPSE.points_at_arc(s)
    assert np.allclose(pts, [[0.15, 0], [0, 0.10], [-0.15, 0], [0, -0.10]], atol=1e-7)
    # Every placed point lies on the ellipse itself, not on a polygonal stand-in.
    p = ELLIPSE.points_at_arc(np.linspace(0, 0.79, 37))
    assert np.allclose((p[:, 0] / 0.15) ** 2 + (p[:, 1] / 0.10) ** 2, 1.0, atol=1e-12)


def test_polygon_is_traversed_counter_clockwise_from_its_first_vertex():
    cw = Outline("polygon", points=((-0.1, -0.1), (-0.1, 0.1), (0.1, 0.1), (0.1, -0.1)))
    assert cw.area == pytest.approx(0.04, rel=1e-12) and SQUARE.perimeter == pytest.approx(0.8, rel=1e-12)
    assert np.allclose(SQUARE.points_at_arc([0.0, 0.1, 0.3]), [[-0.1, -0.1], [0.0, -0.1], [0.1, 0.0]], atol=1e-12)
    assert np.allclose(SQUARE.arc_at_angle([0.0, 90.0]), [0.3, 0.5], atol=1e-9)


def test_spline_passes_through_its_points():
    u = np.concatenate(
        [[0.0], np.cumsum(np.linalg.norm(np.diff(np.array(BLOB.points + BLOB.points[:1]), axis=0), axis=1))]
    )
    assert np.allclose(BLOB.evaluate(u[:-1]), BLOB.points, atol=1e-12)


def test_contour_ellipse_arc_electrodes_and_inclusions():
    spec = ContourSpec(
        ELLIPSE,
        (OutlineRing(16, shape="arc", width=0.02),),
        (
            EllipseInclusion(-0.06, 0.0, 0.03, 0.05, 20.0),
            PolygonInclusion(((0.03, -0.03), (0.09, -0.03), (0.06, 0.04))),
        ),
    )
    mesh = fe.mesh_from_spec(spec, cache=False)
    assert mesh.n_electrodes == 16
    expected = ELLIPSE.points_at_arc(ELLIPSE.arc_at_angle(np.arange(16) * 22.5))
    for e, centre in zip(mesh.electrodes, expected, strict=True):
        assert abs(e.size - 0.02) / 0.02 < 0.005
        assert np.linalg.norm(e.centre[:2] - centre) < 1e-3  # within the sagitta of a 2 cm arc
    assert abs(mesh.measure() - math.pi * 0.015) / (math.pi * 0.015) < 0.01
    measures = mesh.element_measures()
    ell = measures[mesh.region("inclusion_1")].sum()
    assert abs(ell - math.pi * 0.03 * 0.05) / (math.pi * 0.03 * 0.05) < 0.01
    assert measures[mesh.region("inclusion_2")].sum() == pytest.approx(0.5 * 0.06 * 0.07, rel=1e-9)


def test_contour_polygon_point_and_arc_rings():
    spec = ContourSpec(
        SQUARE,
        (
            OutlineRing(4, shape="point", first_angle_deg=45.0 / 2),
            OutlineRing(4, place="arc", shape="arc", width=0.04, first_angle_deg=90.0),
        ),
    )
    mesh = fe.mesh_from_spec(spec, cache=False)
    points = [e for e in mesh.electrodes[:4]]
    assert all(e.is_point for e in points)
    want = SQUARE.points_at_arc(SQUARE.arc_at_angle(22.5 + 90.0 * np.arange(4)))
    assert np.allclose([mesh.points[e.node] for e in points], want, atol=1e-12)
    for e, s in zip(mesh.electrodes[4:], 0.5 + 0.2 * np.arange(4), strict=True):
        assert e.size == pytest.approx(0.04, rel=1e-9)
        assert np.allclose(e.centre, SQUARE.points_at_arc(s), atol=1e-12)


def test_contour_spline_electrodes():
    mesh = fe.mesh_from_spec(ContourSpec(BLOB, (OutlineRing(8, place="arc", shape="arc", width=0.01),)), cache=False)
    for e in mesh.electrodes:
        assert abs(e.size - 0.01) / 0.01 < 0.005


def test_extruded_square_rectangles_circles_and_prism():
    spec = ExtrudedSpec(
        SQUARE,
        0.1,
        (
            OutlineRing(4, shape="rectangle", width=0.04, height=0.02, z=0.03, first_angle_deg=0.0),
            OutlineRing(4, shape="circle", radius=0.015, z=0.07, first_angle_deg=0.0),
        ),
        (PrismInclusion(((-0.05, -0.05), (0.02, -0.05), (0.0, 0.03)), 0.02, 0.08),),
        h=0.03,
    )
    mesh = fe.mesh_from_spec(spec, cache=False)
    assert mesh.n_electrodes == 8
    for e in mesh.electrodes[:4]:
        assert e.size == pytest.approx(0.04 * 0.02, rel=1e-9)  # flat wall: exact
    for e in mesh.electrodes[4:]:
        assert abs(e.size - math.pi * 0.015**2) / (math.pi * 0.015**2) < 0.02
    centres = SQUARE.points_at_arc(SQUARE.arc_at_angle(90.0 * np.arange(4)))
    for e, c in zip(mesh.electrodes[:4], centres, strict=True):
        assert np.allclose(e.centre, [c[0], c[1], 0.03], atol=1e-9)
    prism = mesh.element_measures()[mesh.region("inclusion_1")].sum()
    assert prism == pytest.approx(0.5 * 0.07 * 0.08 * 0.06, rel=1e-9)
    assert mesh.measure() == pytest.approx(0.004, rel=1e-9)


def test_thorax_tank_geometry():
    spec = fe.load_spec("geometries/thorax_tank.toml")
    assert isinstance(spec, ExtrudedSpec) and spec.n_electrodes == 32
    mesh = fe.mesh_from_spec(spec)
    for e, z in zip(mesh.electrodes, [0.07] * 16 + [0.13] * 16, strict=True):
        assert abs(e.size - 4e-4) / 4e-4 < 0.01
        assert abs(e.centre[2] - z) < 1e-6
        assert abs((e.centre[0] / 0.15) ** 2 + (e.centre[1] / 0.10) ** 2 - 1) < 0.02
    measures = mesh.element_measures()
    lung = 4 / 3 * math.pi * 0.045 * 0.055 * 0.07
    for name in ("inclusion_lung_right", "inclusion_lung_left"):
        assert abs(measures[mesh.region(name)].sum() - lung) / lung < 0.03
    assert abs(mesh.measure() - math.pi * 0.015 * 0.2) / (math.pi * 0.015 * 0.2) < 0.01


def test_new_specs_round_trip():
    specs = [
        ContourSpec(BLOB, (OutlineRing(8, shape="point"),), (PolygonInclusion(((0, 0), (0.02, 0), (0, 0.02))),)),
        ContourSpec(
            ELLIPSE,
            (OutlineRing(8, shape="arc", place="arc", direction="cw"),),
            (EllipseInclusion(0, 0, 0.02, 0.01, 30.0),),
        ),
        ExtrudedSpec(
            SQUARE,
            0.1,
            (OutlineRing(4, shape="rectangle", z=0.05),),
            (
                EllipsoidInclusion(0, 0, 0.05, 0.02, 0.03, 0.01),
                PrismInclusion(((0.05, 0.05), (0.07, 0.05), (0.06, 0.07)), 0.01, 0.02),
            ),
        ),
    ]
    for spec in specs:
        assert fe.spec_from_dict(fe.spec_to_dict(spec)) == spec


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda: Outline("polygon", points=((0, 0), (1, 1), (1, 0), (0, 1))), "self-intersecting"),
        (lambda: Outline("ellipse", a=-1, b=1), "semi-axes"),
        (lambda: ContourSpec(ELLIPSE, (OutlineRing(16, shape="arc", width=0.05),)), "overlap"),
        (
            lambda: ContourSpec(
                ELLIPSE,
                (OutlineRing(8, shape="arc", width=0.02), OutlineRing(8, shape="arc", width=0.02, first_angle_deg=1.0)),
            ),
            "overlap",
        ),
        (lambda: ExtrudedSpec(ELLIPSE, 0.2, (OutlineRing(16, shape="rectangle", z=0.005),)), "off the wall"),
        (
            lambda: ExtrudedSpec(
                ELLIPSE, 0.2, (OutlineRing(16, shape="circle", z=0.1), OutlineRing(16, shape="circle", z=0.11))
            ),
            "overlap",
        ),
        (
            lambda: ContourSpec(ELLIPSE, inclusions=(EllipseInclusion(0.12, 0, 0.05, 0.02),)),
            "crosses or touches the outline",
        ),
        (
            lambda: ContourSpec(
                ELLIPSE,
                inclusions=(EllipseInclusion(0, 0, 0.05, 0.02), PolygonInclusion(((0.04, 0), (0.08, 0), (0.06, 0.03)))),
            ),
            "overlap",
        ),
        (
            lambda: ExtrudedSpec(ELLIPSE, 0.2, inclusions=(EllipsoidInclusion(0, 0, 0.18, 0.02, 0.02, 0.05),)),
            "top of the tank",
        ),
        (lambda: ExtrudedSpec(SQUARE, 0.1, (OutlineRing(4, shape="circle", z=0.05, first_angle_deg=45.0),)), "corner"),
        (
            lambda: ContourSpec(
                Outline("polygon", points=((0, 0), (1, 0), (1, 1), (0.9, 0.1), (0.1, 0.1), (0, 1))),
                (OutlineRing(4, shape="point"),),
            ),
            "place = 'arc'",
        ),
    ],
)
def test_bad_outline_specs_name_the_problem(make, words):
    with pytest.raises(SpecError, match=words.replace("(", r"\(")):
        make()


def test_bad_outline_toml_names_the_key(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('kind = "contour"\noutline = { shape = "ellipse", a = 1, b = 1, radius = 2 }\n')
    with pytest.raises(SpecError, match="radius"):
        fe.load_spec(path)


def test_thorax_tank_from_the_cli(tmp_path, monkeypatch):
    from femeit.cli import main

    monkeypatch.setenv("FEMEIT_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "fwd.npz"
    args = ["geometries/thorax_tank.toml", "--protocol", "cross_ring", "--h", "0.05", "--sigma", "0.3"]
    lungs = ["--region", "inclusion_lung_right=0.05", "--region", "inclusion_lung_left=0.05"]
    assert main(["forward", *args, *lungs, "-o", str(out)]) == 0
    data = np.load(out)
    assert data["voltages"].shape == (240,)
    # Cross-ring rows: the drive pair and the reading pair each span ring 0 (e0..e15) and ring 1.
    assert np.all(data["abmn"][:, [0, 2]] < 16) and np.all(data["abmn"][:, [1, 3]] >= 16)
