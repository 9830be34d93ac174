"""ERT arrays: row counts and hand-written rows; analytic geometric factors; reciprocal errors."""

import numpy as np
import pytest

from femeit.errors import FemeitError
from femeit.ert import (
    apparent_resistivity,
    dipole_dipole,
    error_model,
    fit_error_model,
    geometric_factor,
    gradient,
    line_positions,
    multiple_gradient,
    numeric_geometric_factor,
    pole_dipole,
    pole_pole,
    reciprocal_analysis,
    reciprocal_pairs,
    schlumberger,
    wenner_alpha,
    wenner_beta,
    wenner_gamma,
)


def test_wenner_family_rows():
    p = wenner_alpha(10)
    # a = 1: 7 rows, a = 2: 4, a = 3: 1
    assert p.n_rows == 12
    assert p.abmn[0].tolist() == [0, 3, 1, 2]
    assert p.abmn[7].tolist() == [0, 6, 2, 4]
    assert p.abmn[-1].tolist() == [0, 9, 3, 6]
    assert wenner_beta(10).abmn[0].tolist() == [1, 0, 2, 3]
    assert wenner_beta(10, spacings=[2]).abmn.tolist() == [[2, 0, 4, 6], [3, 1, 5, 7], [4, 2, 6, 8], [5, 3, 7, 9]]
    assert wenner_gamma(10).abmn[1].tolist() == [1, 3, 2, 4]
    assert wenner_alpha(10, spacings=[1]).n_rows == 7


def test_schlumberger_dipole_dipole_rows():
    p = schlumberger(10, n_max=2)
    assert p.n_rows == 7 + 5  # n = 1 spans 3 steps, n = 2 spans 5
    assert p.abmn[7].tolist() == [0, 5, 2, 3]
    d = dipole_dipole(8, n_max=3)
    assert d.n_rows == 5 + 4 + 3
    assert d.abmn[0].tolist() == [1, 0, 2, 3]
    assert d.abmn[5].tolist() == [1, 0, 3, 4]
    assert d.abmn[-1].tolist() == [3, 2, 6, 7]
    d2 = dipole_dipole(12, spacings=[2], n_max=2)
    assert d2.abmn[0].tolist() == [2, 0, 4, 6] and d2.n_rows == 6 + 4


def test_pole_arrays_use_one_remote_electrode():
    pp = pole_pole(5)
    assert pp.n_electrodes == 6 and pp.n_rows == 4 + 3 + 2 + 1
    assert pp.abmn[0].tolist() == [0, 5, 1, 5]
    pd = pole_dipole(6, n_max=2)
    assert pd.n_electrodes == 7 and pd.n_rows == 4 + 3
    assert pd.abmn[0].tolist() == [0, 6, 1, 2] and pd.abmn[4].tolist() == [0, 6, 2, 3]
    both = pole_dipole(6, n_max=2, reverse=True)
    assert both.n_rows == 14 and both.abmn[7].tolist() == [2, 6, 1, 0]


def test_gradient_rows():
    g = gradient(8)
    assert g.n_rows == 5 and g.abmn[0].tolist() == [0, 7, 1, 2] and g.abmn[-1].tolist() == [0, 7, 5, 6]
    mg = multiple_gradient(10, s_values=[2])
    # span (s + 2) a = 4: A at 0..5, two dipoles each
    assert mg.n_rows == 12
    assert mg.abmn[:3].tolist() == [[0, 4, 1, 2], [0, 4, 2, 3], [1, 5, 2, 3]]


def test_bad_array_arguments():
    with pytest.raises(FemeitError, match="at least 4"):
        wenner_alpha(3)
    with pytest.raises(FemeitError, match="positive whole"):
        dipole_dipole(10, spacings=[0])
    with pytest.raises(FemeitError, match="no row fits"):
        wenner_alpha(10, spacings=[4])


def test_analytic_geometric_factors_match_textbook_values():
    a = 2.0
    pos = line_positions(20, a, remote=True)
    assert np.allclose(geometric_factor(wenner_alpha(20, [1]), pos[:20]), 2 * np.pi * a)
    assert np.allclose(geometric_factor(wenner_beta(20, [1]), pos[:20]), 6 * np.pi * a)
    assert np.allclose(geometric_factor(wenner_gamma(20, [1]), pos[:20]), 3 * np.pi * a)
    d = dipole_dipole(20, n_max=4)
    n = (d.abmn[:, 2] - d.abmn[:, 0]).astype(float)
    assert np.allclose(geometric_factor(d, pos[:20]), np.pi * n * (n + 1) * (n + 2) * a)
    s = schlumberger(20, n_max=3)
    n = (s.abmn[:, 2] - s.abmn[:, 0]).astype(float)
    assert np.allclose(geometric_factor(s, pos[:20]), np.pi * n * (n + 1) * a)
    pd = pole_dipole(20, n_max=3)
    n = (pd.abmn[:, 2] - pd.abmn[:, 0]).astype(float)
    assert np.allclose(geometric_factor(pd, pos), 2 * np.pi * n * (n + 1) * a)
    pp = pole_pole(20, [3])
    assert np.allclose(geometric_factor(pp, pos), 2 * np.pi * 3 * a)
    # (x, z) positions give the same; the image method agrees for surface electrodes.
    assert np.allclose(geometric_factor(d, pos[:20, [0, 2]]), geometric_factor(d, pos[:20]))
    assert np.allclose(geometric_factor(d, pos[:20], surface_z=0.0), geometric_factor(d, pos[:20]))


def test_buried_electrodes_image_method():
    # A pole-pole pair, both at depth h, 1 m apart: G = (1/r + 1/r') / 2 -> K = 4 pi / (1/r + 1/r').
    h = 0.5
    pos = np.array([[0.0, 0, -h], [1.0, 0, -h], [np.inf, np.inf, np.inf]])
    k = geometric_factor([[0, 2, 1, 2]], pos, surface_z=0.0)
    assert np.isclose(k[0], 4 * np.pi / (1 + 1 / np.hypot(1, 2 * h)))


def test_geometric_factor_errors():
    pos = line_positions(4)
    with pytest.raises(FemeitError, match="infinite"):
        # M and N symmetric about A and B
        geometric_factor([[0, 3, 1, 2]], np.array([[0.0, 0, 0], [1, 0, 1], [1, 0, -1], [2, 0, 0]]))
    with pytest.raises(FemeitError, match="outside"):
        geometric_factor([[0, 4, 1, 2]], pos)
    with pytest.raises(FemeitError, match="same place"):
        geometric_factor([[0, 1, 0, 2]], pos)


def test_apparent_and_numeric():
    k = np.array([2.0, 3.0])
    assert np.allclose(apparent_resistivity([5.0, 1.0], k), [10.0, 3.0])
    assert np.allclose(numeric_geometric_factor([0.5, 0.25], resistivity=2.0), [4.0, 8.0])
    with pytest.raises(FemeitError, match="zero"):
        numeric_geometric_factor([0.0, 1.0])
    with pytest.raises(FemeitError):
        apparent_resistivity([1.0, 2.0, 3.0], k)


def test_reciprocal_pairs_with_signs():
    abmn = np.array([[0, 1, 2, 3], [2, 3, 0, 1], [4, 5, 6, 7], [7, 6, 4, 5], [0, 2, 4, 6]])
    pairs, signs = reciprocal_pairs(abmn)
    assert pairs.tolist() == [[0, 1], [2, 3]]
    assert signs.tolist() == [1.0, -1.0]
    ra = reciprocal_analysis(abmn, np.array([1.0, 1.1, 2.0, -2.0, 5.0]))
    assert np.allclose(ra.reciprocal, [1.1, 2.0])
    assert np.allclose(ra.relative_error, [0.1 / 1.05, 0.0])


def test_error_model_fit_recovers_known_noise():
    rng = np.random.default_rng(4)
    r = 10 ** rng.uniform(-2, 1, 4000)
    a_true, b_true = 0.002, 0.03
    s = a_true + b_true * r
    normal = r + s * rng.standard_normal(r.size)
    recip = r + s * rng.standard_normal(r.size)
    a, b = fit_error_model(0.5 * (normal + recip), normal - recip, n_bins=40)
    assert abs(b - b_true) < 0.1 * b_true
    assert abs(a - a_true) < 0.3 * a_true
    assert np.allclose(error_model([1.0, 2.0], 0.1, 0.05), [0.15, 0.2])
    assert np.allclose(error_model([1.0, 2.0], 0.1, 0.05, relative=True), [0.15, 0.1])
    with pytest.raises(FemeitError):
        error_model([1.0], 0.0, 0.0)
