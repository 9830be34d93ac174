"""The linear-solver backends: crossovers of ``auto`` and the shared-preconditioner CG."""

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from femeit.errors import FemeitError
from femeit.forward import linsolve
from femeit.forward.linsolve import SPLU_MAX_UNKNOWNS, available_backends, block_pcg, choose_backend, factorize


def _spd(n: int = 400, seed: int = 0) -> sp.csr_matrix:
    """A 2D five-point Laplacian plus a small random diagonal: sparse SPD."""
    side = int(np.sqrt(n))
    t = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(side, side))
    lap = sp.kronsum(t, t).tocsr()
    return (lap + sp.diags(np.random.default_rng(seed).uniform(0.01, 0.1, side * side))).tocsr()


def test_auto_follows_the_crossover_per_dimension_and_order(monkeypatch):
    monkeypatch.setattr(linsolve, "available_backends", lambda: ["splu", "amg"])
    limit3 = SPLU_MAX_UNKNOWNS[3, 1]
    assert choose_backend(limit3, 3, 1) == "splu"
    assert choose_backend(limit3 + 1, 3, 1) == "amg"
    # The same size in 2D stays with SuperLU: its crossover is far higher.
    assert choose_backend(limit3 + 1, 2, 1) == "splu"
    assert SPLU_MAX_UNKNOWNS[2, 1] > SPLU_MAX_UNKNOWNS[3, 1]
    monkeypatch.setattr(linsolve, "available_backends", lambda: ["splu"])
    assert choose_backend(10**7, 3, 1) == "splu"  # no pyamg: nothing else to take
    monkeypatch.setattr(linsolve, "available_backends", lambda: ["pardiso", "splu", "amg"])
    assert choose_backend(10, 3, 1) == choose_backend(10**7, 3, 2) == "pardiso"
    # In 2D SuperLU beat PARDISO at every measured size: PARDISO is left aside there.
    assert choose_backend(10_000, 2, 1) == "splu"
    assert choose_backend(SPLU_MAX_UNKNOWNS[2, 1] + 1, 2, 1) == "amg"


def test_block_pcg_solves_dependent_and_zero_columns():
    a = _spd()
    rng = np.random.default_rng(1)
    b = rng.standard_normal((a.shape[0], 5))
    b[:, 4] = -b[:, :4].sum(axis=1)  # linearly dependent, like adjacent patterns
    b[:, 2] = 0.0
    jacobi = 1.0 / a.diagonal()
    x = block_pcg(a, b, lambda r: jacobi[:, None] * r, rtol=1e-12)
    exact = spla.spsolve(a.tocsc(), b)
    np.testing.assert_allclose(x, exact, rtol=1e-9, atol=1e-12 * np.abs(exact).max())
    assert not x[:, 2].any()
    with pytest.raises(FemeitError, match="did not converge"):
        block_pcg(a, b, lambda r: r, rtol=1e-12, maxiter=2)


@pytest.mark.parametrize("backend", available_backends())
def test_every_installed_backend_agrees_with_superlu(backend):
    a = _spd(900)
    b = np.random.default_rng(2).standard_normal((a.shape[0], 16))
    reference = factorize(a, "splu")(b)
    x = factorize(a, backend)(b)
    # Direct solvers agree to rounding; CG stops at a relative residual of AMG_RTOL.
    np.testing.assert_allclose(x, reference, rtol=1e-7 if backend == "amg" else 1e-10, atol=1e-9)
    np.testing.assert_allclose(factorize(a, backend)(b[:, 0]), reference[:, 0], rtol=1e-7, atol=1e-9)


def test_refinement_recovers_the_exact_solution_from_an_inexact_solver():
    a = _spd(900)
    b = np.random.default_rng(3).standard_normal((a.shape[0], 4))
    exact = factorize(a, "splu")(b)
    inexact = factorize(a + sp.diags(np.full(a.shape[0], 1e-4)), "splu")  # a nearby matrix's factor
    assert np.abs(inexact(b) - exact).max() > 1e-5 * np.abs(exact).max()
    assert linsolve.refined(a, inexact, 0) is inexact
    np.testing.assert_allclose(linsolve.refined(a, inexact, 4)(b), exact, rtol=0, atol=1e-13 * np.abs(exact).max())


@pytest.fixture(scope="module")
def cem_tank():
    """A 2D CEM system with small contact impedance: cond ~1e6, where solver errors show."""
    import femeit as fe
    from femeit.forward import ForwardModel
    from femeit.protocol import Protocol

    mesh = fe.mesh_from_spec(fe.CircleSpec(radius=0.025, electrode_width=0.005, h=0.0025))
    model = ForwardModel(mesh, Protocol.adjacent(16), contact_impedance=1e-5)
    sigma = np.random.default_rng(4).uniform(0.5, 2.0, mesh.n_elements)
    return model, sigma


@pytest.mark.skipif("pardiso" not in available_backends(), reason="pypardiso is not installed")
def test_pardiso_is_as_exact_as_refined_superlu(cem_tank):
    model, sigma = cem_tank
    a = model.system_matrix(sigma)
    b = np.random.default_rng(5).standard_normal((a.shape[0], 16))
    exact = linsolve.refined(a, factorize(a, "splu"), 2)(b)
    x = factorize(a, "pardiso")(b)
    scale = np.abs(exact).max()
    # Measured: 3e-16 with refinement, 4e-13 without (SuperLU unrefined: 5e-13).  A solution
    # this close to the exact one is as smooth in the matrix as the exact one (inverse methods
    # started at the truth rely on that: tests/test_landweber.py).
    assert np.abs(x - exact).max() < 1e-14 * scale
    np.testing.assert_allclose(factorize(a, "splu")(b), x, rtol=0, atol=1e-12 * scale)


@pytest.mark.skipif("pardiso" not in available_backends(), reason="pypardiso is not installed")
def test_pardiso_factors_are_independent_cheap_to_make_and_released(monkeypatch):
    import gc

    import pypardiso

    a1, a2 = _spd(400, seed=7), _spd(400, seed=8) * 3.0
    b = np.random.default_rng(9).standard_normal((a1.shape[0], 3))
    factorize(a1, "pardiso")  # MKL is located once per process
    made, freed = [], []
    init, free = pypardiso.PyPardisoSolver.__init__, pypardiso.PyPardisoSolver.free_memory
    monkeypatch.setattr(pypardiso.PyPardisoSolver, "__init__", lambda s, *a, **k: made.append(1) or init(s, *a, **k))
    monkeypatch.setattr(pypardiso.PyPardisoSolver, "free_memory", lambda s, **k: freed.append(k) or free(s, **k))
    s1, s2 = factorize(a1, "pardiso"), factorize(a2, "pardiso")
    # Two live factors side by side, each solving its own matrix.
    np.testing.assert_allclose(a1 @ s1(b), b, atol=1e-12)
    np.testing.assert_allclose(a2 @ s2(b), b, atol=1e-12)
    assert not made  # no new MKL lookup per factorisation
    del s1, s2
    gc.collect()
    assert freed == [{"everything": True}] * 2  # MKL's memory of both factors released


@pytest.mark.skipif("pardiso" not in available_backends(), reason="pypardiso is not installed")
def test_pardiso_reuses_a_patterns_ordering_and_leaves_out_mkls_float64_refinement(monkeypatch):
    made = []
    new_solver = linsolve._new_pardiso_solver
    monkeypatch.setattr(linsolve, "_new_pardiso_solver", lambda: made.append(new_solver()) or made[-1])
    a1, a2 = _spd(900, seed=10), _spd(900, seed=11) * 2.0  # one sparsity pattern, two matrices
    b = np.random.default_rng(12).standard_normal((a1.shape[0], 4))
    reuse: dict = {}
    factorize(a1, "pardiso", reuse)(b)
    x2 = factorize(a2, "pardiso", reuse)(b)
    # MKL returned its ordering the first time (iparm[4] = 2) and was given it back the second (1).
    assert [int(s.iparm[4]) for s in made] == [2, 1]
    np.testing.assert_array_equal(made[1].perm, reuse["pardiso"][2])
    np.testing.assert_allclose(x2, factorize(a2, "splu")(b), rtol=0, atol=1e-14 * np.abs(x2).max())
    # MKL's own float64 refinement is off: no step done (iparm[6]) in either solve.
    assert [int(s.iparm[6]) for s in made] == [0, 0]
    # Another pattern is ordered anew, never given the first pattern's ordering.
    a3 = _spd(400, seed=13)
    x3 = factorize(a3, "pardiso", reuse)(b[:400])
    assert int(made[2].iparm[4]) == 2 and len(reuse["pardiso"][2]) == 400
    np.testing.assert_allclose(a3 @ x3, b[:400], rtol=0, atol=1e-12)


@pytest.mark.skipif("pardiso" not in available_backends(), reason="pypardiso is not installed")
def test_pardiso_with_a_reused_ordering_is_as_exact_as_refined_superlu_in_3d():
    import femeit as fe
    from femeit.forward import ForwardModel
    from femeit.protocol import Protocol

    mesh = fe.mesh_from_spec(fe.CylinderSpec(radius=0.1, height=0.1, h=0.02, h_electrode=0.01))
    model = ForwardModel(mesh, Protocol.adjacent(16), 1e-4)
    sigma = np.random.default_rng(14).uniform(0.5, 2.0, mesh.n_elements)
    b = np.random.default_rng(15).standard_normal((model.system_matrix(sigma).shape[0], 16))
    reuse: dict = {}
    for s in (sigma, sigma[::-1].copy()):  # the second factorisation reuses the first one's ordering
        a = model.system_matrix(s)
        exact = linsolve.refined(a, factorize(a, "splu"), 2)(b)
        x = factorize(a, "pardiso", reuse, dim=3, order=1)(b)
        # Measured 1e-16 on a 36k-tetrahedron cylinder (unrefined SuperLU: 1e-13; PARDISO: 1.4e-13).
        assert np.abs(x - exact).max() < 1e-14 * np.abs(exact).max()
    assert "pardiso" in reuse


def test_refinement_residual_is_exact_where_float64_loses_every_digit():
    from fractions import Fraction

    rng = np.random.default_rng(0)
    n = 60
    a = sp.random(n, n, density=0.1, random_state=1)
    a = (a + a.T + sp.diags(rng.uniform(1.0, 3.0, n) * 1e3)).tocsr()
    a.data *= rng.uniform(0.5, 2.0, a.nnz) * 10.0 ** rng.integers(-3, 3, a.nnz)  # rows spanning 6 decades
    b = rng.standard_normal((n, 3))
    x = factorize(a, "splu")(b)  # a residual of rounding size: b - a x cancels every leading digit
    coo = a.tocoo()
    exact = [[Fraction(float(v)) for v in b[:, k]] for k in range(3)]
    for i, j, v in zip(coo.row, coo.col, coo.data, strict=True):
        for k in range(3):
            exact[k][i] -= Fraction(float(v)) * Fraction(float(x[j, k]))
    exact = np.array([[float(q) for q in column] for column in exact]).T
    scale = np.abs(exact).max()
    assert np.abs((b - a @ x) - exact).max() > 0.5 * scale  # float64 gets it wrong
    # Measured 5e-4 (np.longdouble: 2e-3).
    assert np.abs(linsolve.residual_function(a)(b, x) - exact).max() < 2e-3 * scale
