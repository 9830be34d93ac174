"""The compiled loops (numba) of the forward solve compute what numpy's operations compute.

The refinement residual must agree bit for bit (the same exact products and the
same row-order sums), on generated matrices nobody tuned to; the readings to
rounding (their sums may be ordered differently); and a model's readings must
not depend on whether numba is installed.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

import femeit as fe
from femeit.errors import FemeitError
from femeit.forward import ForwardModel, linsolve
from femeit.forward import model as model_module
from femeit.protocol import Protocol

pytest.importorskip("numba")


def _numpy_only(monkeypatch) -> None:
    monkeypatch.setattr(linsolve, "compiled_loops", lambda: None)
    monkeypatch.setattr(model_module, "compiled_loops", lambda: None)


def _generated_system(rng: np.random.Generator) -> sp.csr_matrix:
    """A random sparse matrix: 1-600 rows, rows of 1-60 entries, entries spanning up to 12 decades."""
    n = int(rng.integers(1, 600))
    density = min(1.0, rng.uniform(1.0, 60.0) / n)
    a = sp.random(n, n, density=density, random_state=int(rng.integers(2**31)), format="csr")
    a = a + sp.diags(rng.uniform(1.0, 2.0, n))  # no empty row
    a = sp.csr_matrix(a)
    decades = rng.uniform(0, 12)
    a.data *= 10.0 ** rng.uniform(-decades / 2, decades / 2, a.nnz) * rng.choice([-1.0, 1.0], a.nnz)
    a.sort_indices()
    return a


def test_compiled_residual_is_numpys_bit_for_bit_on_generated_systems(monkeypatch):
    rng = np.random.default_rng(40)
    for _ in range(25):
        a = _generated_system(rng)
        n, k = a.shape[0], int(rng.integers(1, 20))
        x = rng.standard_normal((n, k)) * 10.0 ** rng.integers(-8, 8, k)
        # Largest entries that are powers of two, where the rounding shift is that power itself.
        power = 2.0 ** int(rng.integers(-8, 8))
        x[:, 0] = np.clip(x[:, 0], -power, power)
        x[int(rng.integers(n)), 0] = -power
        row = int(rng.integers(n))
        a.data[a.indptr[row] : a.indptr[row + 1]] = np.clip(a.data[a.indptr[row] : a.indptr[row + 1]], -0.5, 0.5)
        a.data[a.indptr[row]] = -1.0  # this row's largest magnitude: 2^0
        b = a @ x + 1e-12 * rng.standard_normal((n, k))  # b - a x cancels most leading digits
        compiled = linsolve.residual_function(a)
        assert compiled.matrix is not None
        with monkeypatch.context() as patch:
            _numpy_only(patch)
            plain = linsolve.residual_function(a)
            assert plain.matrix is None
            expected = plain(b, x)
            expected_rounded = [plain.rounded(b, xo) for xo in (x, np.asfortranarray(x))]
        np.testing.assert_array_equal(compiled(b, x), expected)
        np.testing.assert_array_equal(compiled(b, np.asfortranarray(x)), expected)
        for xo, (x1, r1) in zip((x, np.asfortranarray(x)), expected_rounded, strict=True):
            got_x1, got_r1 = compiled.rounded(b, xo)
            np.testing.assert_array_equal(got_x1, x1)
            np.testing.assert_array_equal(got_r1, r1)
            assert got_x1.flags.c_contiguous and got_r1.flags.c_contiguous


def test_compiled_residual_keeps_its_own_copy_of_the_matrix():
    """A caller changing its matrix after the factorisation must change neither the rounded nor the whole residual."""
    a = _generated_system(np.random.default_rng(41))
    x = np.ones((a.shape[0], 2))
    original = a.copy()
    residual = linsolve.residual_function(a)
    before, before_rounded = residual(np.zeros_like(x), x), residual.rounded(np.zeros_like(x), x)
    a.data[:] = 0.0
    np.testing.assert_array_equal(residual(np.zeros_like(x), x), before)
    np.testing.assert_array_equal(residual.rounded(np.zeros_like(x), x)[1], before_rounded[1])
    # The stacked split (a1; a2), made on first use after the change, is the original matrix's.
    np.testing.assert_array_equal(residual.values, linsolve.residual_function(original).values)


@pytest.mark.skipif("pardiso" not in linsolve.available_backends(), reason="pypardiso is not installed")
def test_refined_pardiso_solve_of_a_large_matrix_ignores_later_changes_to_it():
    """The refinement's whole residual is numpy's, from the split made on first use: of the copy of the values."""
    n = 3000
    a = (sp.random(n, n, density=3e-3, random_state=48) + sp.eye(n)).tocsr()
    a = (a + a.T + sp.diags(np.full(n, 10.0))).tocsr()
    b = np.random.default_rng(49).standard_normal(n)
    original = a.copy()
    solve = linsolve.factorize(a, "pardiso", refine=True)
    a.data[:] = 0.0
    x = solve(b)
    assert np.abs(original @ x - b).max() < 1e-13 * np.abs(b).max()


def test_the_split_values_are_made_once_when_threads_ask_at_once(monkeypatch):
    """Threads first asking a residual for its stacked values get one array, made once (MKL reads it by address)."""
    import threading
    import time

    a = sp.random(300, 300, density=0.05, random_state=50, format="csr") + sp.eye(300, format="csr")
    residual = linsolve.residual_function(a)
    assert callable(residual._values)  # made on first use
    made, split = [], linsolve._split_values

    def slow_split(*args):
        made.append(1)
        time.sleep(0.05)  # widens the window in which a second thread could make them too
        return split(*args)

    monkeypatch.setattr(linsolve, "_split_values", slow_split)
    start = threading.Barrier(6)
    seen = []

    def ask():
        start.wait()
        seen.append(residual.values)

    threads = [threading.Thread(target=ask) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(made) == 1
    assert all(v is seen[0] for v in seen)


def test_compiled_residual_propagates_nan_and_names_wrong_shapes():
    a = _generated_system(np.random.default_rng(42))
    n = a.shape[0]
    residual = linsolve.residual_function(a)
    x = np.ones((n, 3))
    x[0, 1] = np.nan
    x1, r = residual.rounded(np.zeros((n, 3)), x)
    assert np.isnan(x1[:, 1]).all() and not np.isnan(x1[:, [0, 2]]).any()
    assert np.isnan(r[:, 1]).all() and not np.isnan(r[:, [0, 2]]).any()
    whole = residual(np.zeros((n, 3)), x)  # numpy's: NaN where the NaN entry reaches, never vanished
    assert np.isnan(whole[:, 1]).any() and not np.isnan(whole[:, [0, 2]]).any()
    for bad_b, bad_x in ((np.ones((n + 1, 3)), np.ones((n, 3))), (np.ones((n, 3)), np.ones((n, 2))), (np.ones(n), x)):
        with pytest.raises(FemeitError, match="residual of a"):
            residual(bad_b, bad_x)
        with pytest.raises(FemeitError, match="residual of a"):
            residual.rounded(bad_b, bad_x)


def test_femeit_numba_0_leaves_the_compiled_loops_aside(monkeypatch):
    for off in ("0", "false", " Off "):
        monkeypatch.setattr(linsolve, "_COMPILED", [])
        monkeypatch.setenv("FEMEIT_NUMBA", off)
        assert linsolve.compiled_loops() is None
    assert linsolve.residual_function(_generated_system(np.random.default_rng(43))).matrix is None
    monkeypatch.setattr(linsolve, "_COMPILED", [])
    monkeypatch.delenv("FEMEIT_NUMBA")
    assert linsolve.compiled_loops() is not None
    # numba's JIT switched off: its loops would run as Python, so numpy's operations are used.
    import numba

    monkeypatch.setattr(linsolve, "_COMPILED", [])
    monkeypatch.setattr(numba.config, "DISABLE_JIT", True)
    assert linsolve.compiled_loops() is None


def test_nonzero_terms_keep_every_term_of_non_zero_weight_in_order():
    rng = np.random.default_rng(44)
    weights = rng.integers(-2, 3, (50, 15)).astype(float)
    weights[3] = 0.0  # a row with no term
    index = rng.integers(0, 1000, (50, 15))
    terms, values = model_module._nonzero_terms(index, weights)
    assert terms.shape == values.shape == (50, max(1, int((weights != 0).sum(axis=1).max())))
    for row in range(50):
        kept = weights[row] != 0
        m = int(kept.sum())
        np.testing.assert_array_equal(terms[row, :m], index[row, kept])
        np.testing.assert_array_equal(values[row, :m], weights[row, kept])
        assert not values[row, m:].any()
    flat = rng.standard_normal(1000)
    np.testing.assert_allclose((values * flat[terms]).sum(axis=1), (weights * flat[index]).sum(axis=1), atol=1e-13)


@pytest.fixture(scope="module")
def meshes():
    ring = fe.ElectrodeRing(z=0.05, n_electrodes=16, shape="rectangle", electrode_width=0.015, electrode_height=0.03)
    tank = fe.CylinderSpec(radius=0.1, height=0.1, rings=(ring,), h=0.035, h_electrode=0.015)
    return {"point": fe.mesh_from_spec(fe.BallSpec(radius=1.0, h=0.4, h_electrode=0.2)), "cem": fe.mesh_from_spec(tank)}


@pytest.mark.skipif("pardiso" not in linsolve.available_backends(), reason="pypardiso is not installed")
@pytest.mark.parametrize("protocol", ["adjacent", "opposite", "dipole_dipole"])
@pytest.mark.parametrize("electrode_model", ["point", "cem"])
def test_readings_do_not_depend_on_numba(meshes, monkeypatch, protocol, electrode_model):
    mesh = meshes[electrode_model]
    made = getattr(Protocol, protocol)(16)
    z = 0.02
    rng = np.random.default_rng(45)
    sigmas = [np.exp(rng.standard_normal(mesh.n_elements)) for _ in range(3)]
    compiled = ForwardModel(mesh, made, z, electrode_model=electrode_model, solver="pardiso")
    got = [compiled.simulate(s) for s in sigmas]
    _numpy_only(monkeypatch)
    plain = ForwardModel(mesh, made, z, electrode_model=electrode_model, solver="pardiso")
    for s, readings in zip(sigmas, got, strict=True):
        expected = plain.simulate(s)
        # The residual is the same bit for bit; the readings' sums may be ordered differently.
        np.testing.assert_allclose(readings, expected, rtol=0, atol=4e-16 * np.abs(expected).max())
