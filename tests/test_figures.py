"""Figure options of issue 24: every electrode labelled and inside the view, region legend, dpi, colour bars."""

import numpy as np
import pytest

import femeit as fe

pytest.importorskip("matplotlib")
viz = pytest.importorskip("femeit.viz")


@pytest.fixture(scope="module")
def disk():
    spec = fe.CircleSpec(radius=1.0, h=0.25, n_electrodes=16, inclusions=(fe.CircleInclusion(0.3, 0.0, 0.2),))
    return fe.mesh_from_spec(spec)


def _label_texts(ax):
    return {t.get_text(): t for t in ax.texts if (t.get_gid() or "").startswith("electrode-")}


def test_plot_mesh_labels_every_electrode_inside_the_axes(disk):
    fig = viz.plot_mesh(disk)
    ax = fig.axes[0]
    labels = _label_texts(ax)
    assert set(labels) == {str(k) for k in range(1, 17)}  # electrode 1 included
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    for text in labels.values():
        x, y = text.get_position()
        assert x0 < x < x1 and y0 < y < y1, text.get_text()
    # Label 1 sits outside the disk next to electrode 1's centre.
    centre = np.asarray(disk.electrodes[0].centre)[:2]
    position = np.asarray(labels["1"].get_position())
    assert np.linalg.norm(position) > 1.0 and np.linalg.norm(position - centre) < 0.2


def test_plot_mesh_legend_names_every_region_and_bounds_are_shown(disk):
    fig = viz.plot_mesh(disk)
    ax = fig.axes[0]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend[:2] == ["domain", "inclusion_1"] and legend[2].startswith("electrodes (16)")
    assert ax.axison and ax.get_xlabel() == "x (m)"
    off = viz.plot_mesh(disk, labels=False, legend=False, axes=False).axes[0]
    assert _label_texts(off) == {} and off.get_legend() is None and not off.axison


def test_dpi_sets_the_png_resolution(disk, tmp_path):
    from matplotlib.image import imread

    viz.plot_mesh(disk, path=tmp_path / "lo.png", dpi=50)
    viz.plot_mesh(disk, path=tmp_path / "hi.png", dpi=150)
    lo, hi = imread(tmp_path / "lo.png"), imread(tmp_path / "hi.png")
    assert hi.shape[1] / lo.shape[1] == pytest.approx(3.0, rel=0.05)
    with pytest.raises(fe.FemeitError, match="dpi"):
        viz.plot_image(np.ones((4, 4)), path=tmp_path / "bad.png", dpi=-1)


def test_colour_bars_carry_their_labels(disk):
    fig = viz.plot_image(np.ones((4, 4)), label="conductivity change (S/m)")
    assert [a.get_ylabel() for a in fig.axes][-1] == "conductivity change (S/m)"
    fig = viz.plot_conductivity(disk, np.ones(disk.n_elements))
    assert fig.axes[-1].get_ylabel() == "conductivity (S/m)"
    fig = viz.plot_image_grid([[np.eye(3), np.ones((3, 3))]], label="S/m")
    assert len(fig.axes) == 3 and fig.axes[-1].get_ylabel() == "S/m"


def test_cli_reconstruct_png_has_a_colour_bar_and_the_dpi_asked(tmp_path):
    from matplotlib.image import imread

    spec = tmp_path / "disk.toml"
    spec.write_text('kind = "circle"\nradius = 1.0\nh = 0.2\n[[inclusions]]\nx = 0.3\ny = 0.0\nradius = 0.25\n')
    out = tmp_path / "img"
    args = [str(spec), "--region", "inclusion_1=2", "--shape", "16", "16", "-o", str(out)]
    from femeit.cli import main

    assert main(["reconstruct", *args, "--dpi", "60"]) == 0
    small = imread(out.with_suffix(".png"))
    (out.with_suffix(".png")).unlink()
    out.with_suffix(".npz").unlink()
    assert main(["reconstruct", *args, "--dpi", "120"]) == 0
    large = imread(out.with_suffix(".png"))
    assert large.shape[1] / small.shape[1] == pytest.approx(2.0, rel=0.08)


def test_render3d_categorical_regions_continuous_values_and_options(tmp_path):
    pytest.importorskip("pyvista")
    from test_viz import _offscreen_rendering_error

    reason = _offscreen_rendering_error()
    if reason is not None:
        pytest.skip(f"off-screen rendering unavailable: {reason}")
    from femeit.viz.render import REGION_COLOURS

    spec = fe.CylinderSpec(
        radius=0.1, height=0.1, h=0.03, rings=(fe.ElectrodeRing(z=0.05, n_electrodes=8),),
        inclusions=(fe.SphereInclusion(0.0, 0.0, 0.05, 0.03),),
    )
    mesh = fe.mesh_from_spec(spec)
    inclusion_rgb = np.array([int(REGION_COLOURS[1][i : i + 2], 16) for i in (1, 3, 5)])

    def has_colour(image, rgb):
        return bool(np.any(np.all(np.abs(image.astype(int) - rgb) <= 3, axis=-1)))

    regions = viz.render3d(mesh, window_size=(320, 240))
    assert has_colour(regions, inclusion_rgb)  # the inclusion in its categorical colour (unlit slices)
    values = viz.render3d(mesh, np.where(mesh.element_region == 1, 3.0, 1.0), window_size=(320, 240), label="S/m")
    assert not has_colour(values, inclusion_rgb)  # continuous: viridis, no region colours
    top = viz.render3d(mesh, window_size=(320, 240), camera="xy")
    assert not np.array_equal(top, regions)
    big = viz.render3d(mesh, window_size=(160, 120), dpi=200)
    assert big.shape == (240, 320, 3)
    with pytest.raises(fe.FemeitError, match="camera"):
        viz.render3d(mesh, camera="top")
    with pytest.raises(fe.FemeitError, match="clim"):
        viz.render3d(mesh, np.ones(mesh.n_elements), clim=(1.0, 0.0))
