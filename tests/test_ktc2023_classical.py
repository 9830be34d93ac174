"""The generalising classical KTC2023 pipeline: targets, noise model, imaging at every level, segmentation."""

import numpy as np
import pytest

from femeit import ktc2023 as ktc
from femeit.errors import FemeitError
from femeit.ktc2023.classical import CLASSICAL_SETTINGS, Settings, TankImager, estimate_noise, segment
from femeit.ktc2023.settings_search import batch_score
from femeit.ktc2023.targets import Shape, add_noise, element_conductivity, random_target, truth_image
from femeit.metrics import gaussian_ssim


@pytest.fixture(scope="module")
def level1():
    return ktc.load_level(1)


@pytest.fixture(scope="module")
def imager(level1):
    """A coarse calibrated-like tank (sigma and z of the real calibration), 16 x 16 pixels: cheap."""
    model = ktc.tank_model(level1.protocol, h=0.012, contact_impedance=6.3e-7)
    return TankImager.from_model(level1.reference, model, 7.94e-4, grid_shape=(16, 16))


def _disk(centre, radius, label, ratio):
    t = np.linspace(0, 2 * np.pi, 48, endpoint=False)
    return Shape(np.asarray(centre, float), radius * np.column_stack([np.cos(t), np.sin(t)]), label, ratio)


def test_shape_contains_a_square_and_targets_stay_apart():
    square = Shape(np.array([0.01, -0.02]), np.array([[1, 1], [-1, 1], [-1, -1], [1, -1]]) * 0.01, 1, 0.01)
    pts = np.array([[0.019, -0.011], [0.021, -0.02], [0.01, -0.02], [0.0, -0.031]])
    np.testing.assert_array_equal(square.contains(pts), [True, False, True, False])
    rng = np.random.default_rng(1)
    for _ in range(20):
        shapes = random_target(rng)
        assert 1 <= len(shapes) <= 3
        for i, a in enumerate(shapes):
            assert np.linalg.norm(a.centre) + a.reach <= ktc.RADIUS - 0.008 + 1e-12
            assert (a.label == 1) == (a.ratio < 1)
            for b in shapes[i + 1 :]:
                assert np.linalg.norm(a.centre - b.centre) >= a.reach + b.reach
    labels = truth_image([_disk([0.0, 0.05], 0.02, 2, 100.0)])
    assert labels[50, 128] == 2 and labels[200, 128] == 0  # row 0 is +y
    with pytest.raises(FemeitError, match="max_objects"):
        random_target(rng, max_objects=0)


def test_noise_model_is_half_the_reference_non_reciprocity(level1):
    noise = estimate_noise(level1.reference)
    e = 0.5 * ktc.reciprocity_error(level1.reference)
    assert noise.relative == pytest.approx(e) and 0.002 < e < 0.05
    std = noise.std(level1.reference.voltages)
    v = np.abs(level1.reference.voltages)
    np.testing.assert_allclose(std, e * np.sqrt(v**2 + v.mean() ** 2))


def test_segment_no_false_class_from_ringing_or_noise():
    yy, xx = np.mgrid[-1:1:64j, -1:1:64j]
    blob = -np.exp(-((xx - 0.3) ** 2 + yy**2) / 0.05)
    ring = blob + 0.3 * np.exp(-((xx + 0.4) ** 2 + yy**2) / 0.05)  # a single resistive object and its ringing
    noise = np.full(blob.shape, 0.01)
    labels = segment(ring, noise, Settings(1.0, 0.5, 0.5, 4.0))
    assert set(np.unique(labels)) == {0, 1} and labels[32, 41] == 1
    two = blob + 0.8 * np.exp(-((xx + 0.4) ** 2 + yy**2) / 0.05)
    assert set(np.unique(segment(two, noise, Settings(1.0, 0.5, 0.5, 4.0)))) == {0, 1, 2}
    rng = np.random.default_rng(0)
    pure = 0.01 * rng.standard_normal(blob.shape)
    assert not segment(pure, noise, Settings(1.0, 0.5, 0.0, 6.0)).any()  # z-test: noise is not an object
    with pytest.raises(FemeitError, match="one shape"):
        segment(ring, noise[:10], Settings(1.0, 0.5, 0.5, 4.0))


@pytest.mark.parametrize("level", [1, 7])
def test_resistive_disk_is_found_at_every_level_without_a_false_class(imager, level):
    """A disk on the side the level keeps: one resistive class where the disk is, no conductive class."""
    model = imager.model
    disk = _disk([0.0, -0.05], 0.025, 1, 1e-3)  # electrodes 1-12 (top left) are the ones removed
    v0 = model.simulate(imager.sigma0)
    dv = model.simulate(element_conductivity([disk], model.mesh, imager.sigma0)) - v0
    mask = ktc.usable_rows(imager.reference.protocol, level)
    data = add_noise(dv, imager.noise_std(), mask, np.random.default_rng(level))
    assert np.isnan(data[~mask]).all()
    settings = CLASSICAL_SETTINGS[level]
    img, noise = imager.image(data, mask, settings.lam)
    labels = segment(img, noise, settings)
    truth = truth_image([disk])
    assert not (labels == 2).any()
    overlap = ((labels == 1) & (truth == 1)).sum() / ((labels == 1) | (truth == 1)).sum()
    assert overlap > 0.3
    assert ktc.ktc_score(truth, labels) > 0.6


def test_image_input_errors(imager):
    n = imager.jacobian.shape[0]
    mask = np.ones(n, bool)
    with pytest.raises(FemeitError, match="rows"):
        imager.image(np.zeros(n - 1), mask, 1.0)
    with pytest.raises(FemeitError, match="NaN"):
        imager.image(np.full(n, np.nan), mask, 1.0)
    with pytest.raises(FemeitError, match="no usable rows"):
        imager.image(np.zeros(n), np.zeros(n, bool), 1.0)


def test_batch_score_is_the_challenge_score_at_the_search_resolution():
    rng = np.random.default_rng(3)
    truth = truth_image(random_target(rng))[2::4, 2::4]
    labels = np.array([truth_image(random_target(rng))[2::4, 2::4] for _ in range(3)] + [truth])
    expected = [0.5 * sum(gaussian_ssim(truth == c, lab == c, sigma=20.0) for c in (1, 2)) for lab in labels]
    np.testing.assert_allclose(batch_score(truth, labels), expected, rtol=1e-12)
    assert batch_score(truth, labels)[-1] == pytest.approx(1.0)
