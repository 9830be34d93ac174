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


def _recorded_mkl_calls(monkeypatch) -> list:
    """From here on, every call of MKL's pardiso as (phase, a copy of iparm, the handle's address)."""
    calls = []
    call = linsolve._PardisoHandle.call

    def record(handle, phase, *arguments):
        call(handle, phase, *arguments)
        calls.append((phase, handle.iparm.copy(), handle.pt.ctypes.data))

    monkeypatch.setattr(linsolve._PardisoHandle, "call", record)
    return calls


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
    made, released = [], []
    init, release = pypardiso.PyPardisoSolver.__init__, linsolve._mkl_release
    monkeypatch.setattr(pypardiso.PyPardisoSolver, "__init__", lambda s, *a, **k: made.append(1) or init(s, *a, **k))
    monkeypatch.setattr(linsolve, "_mkl_release", lambda pt: released.append(1) or release(pt))
    s1, s2 = factorize(a1, "pardiso"), factorize(a2, "pardiso")
    # Two live factors side by side, each solving its own matrix.
    np.testing.assert_allclose(a1 @ s1(b), b, atol=1e-12)
    np.testing.assert_allclose(a2 @ s2(b), b, atol=1e-12)
    assert not made  # no new MKL lookup per factorisation
    del s1, s2
    gc.collect()
    assert released == [1, 1]  # MKL's memory of both factors released


@pytest.mark.skipif("pardiso" not in available_backends(), reason="pypardiso is not installed")
def test_pardiso_reuses_a_patterns_analysis_and_leaves_out_mkls_float64_refinement(monkeypatch):
    recorded = _recorded_mkl_calls(monkeypatch)
    a1, a2 = _spd(900, seed=10), _spd(900, seed=11) * 2.0  # one sparsity pattern, two matrices
    b = np.random.default_rng(12).standard_normal((a1.shape[0], 4))
    reuse: dict = {}
    factorize(a1, "pardiso", reuse)(b)
    x2 = factorize(a2, "pardiso", reuse)(b)
    calls = [(phase, iparm[4], iparm[6], handle) for phase, iparm, handle in recorded]
    # The first factorisation ordered and analysed the pattern (phase 12, MKL returning its
    # ordering: iparm[4] = 2); the second, on the same handle, only factored (phase 22).
    phases = [c[0] for c in calls]
    assert phases == [12, 33, 33, 22, 33, 33]  # each factor: one solve and one refinement solve
    assert calls[0][1] == 2 and len({c[3] for c in calls}) == 1
    assert np.any(reuse["pardiso"].perm)
    np.testing.assert_allclose(x2, factorize(a2, "splu")(b), rtol=0, atol=1e-14 * np.abs(x2).max())
    # MKL's own float64 refinement is off: no step done (iparm[6]) in any solve.
    assert all(c[2] == 0 for c in calls if c[0] == 33)
    # Another pattern is ordered anew, never given the first pattern's ordering.
    recorded.clear()
    a3 = _spd(400, seed=13)
    x3 = factorize(a3, "pardiso", reuse)(b[:400])
    # Phase -1: the replaced pattern's handle released.
    factored = [(phase, iparm[4]) for phase, iparm, _ in recorded if phase != -1]
    assert factored[0] == (12, 2) and len(reuse["pardiso"].perm) == 400
    np.testing.assert_allclose(a3 @ x3, b[:400], rtol=0, atol=1e-12)


@pytest.mark.skipif("pardiso" not in available_backends(), reason="pypardiso is not installed")
def test_pardiso_solves_right_hand_sides_in_the_marked_rows_sparsely_and_all_others_in_full(monkeypatch):
    recorded = _recorded_mkl_calls(monkeypatch)
    a = _spd(900, seed=21)
    rows = np.array([899, 3, 400, 50])
    rng = np.random.default_rng(22)
    in_rows = np.zeros((900, 3))
    in_rows[rows] = rng.standard_normal((4, 3))
    one_outside = in_rows.copy()
    one_outside[7, 1] = 1e-3
    dense = rng.standard_normal((900, 3))
    reuse: dict = {}
    for matrix in (a, 2.0 * a):  # the second factorisation reuses the sparse-mode analysis
        solve = factorize(matrix, "pardiso", reuse, rhs_rows=rows).unrefined
        recorded.clear()
        exact = factorize(matrix, "splu")
        for b in (in_rows, one_outside, dense, in_rows[:, 0]):
            x = solve(b)
            assert x.shape == b.shape
            np.testing.assert_allclose(x, exact(b), rtol=0, atol=1e-12 * np.abs(x).max())
        # MKL's sparse solve only where it is right: it gives wrong numbers for the others.
        assert [iparm[30] for phase, iparm, _ in recorded if phase == 33] == [2, 0, 0, 2]


@pytest.mark.skipif("pardiso" not in available_backends(), reason="pypardiso is not installed")
def test_pardiso_trusts_a_checked_right_hand_side_only_when_nothing_can_change_it(monkeypatch):
    """A read-only array owning its memory is checked once; a writeable one or a view, on every solve."""
    recorded = _recorded_mkl_calls(monkeypatch)
    a = _spd(900, seed=23)
    rows = np.array([5, 300, 899])
    exact = factorize(a, "splu")
    solve = factorize(a, "pardiso", {}, rhs_rows=rows).unrefined
    fixed = np.zeros((900, 2), order="F")
    fixed[rows] = 1.0
    fixed.flags.writeable = False
    for _ in range(2):
        x = solve(fixed)
        assert x.flags.f_contiguous  # a Fortran-ordered right-hand side: the solution as MKL writes it
        np.testing.assert_allclose(x, exact(fixed), rtol=0, atol=1e-12 * np.abs(x).max())
    # The same numbers in arrays that can change: found sparse, then changed outside the rows.
    base = np.zeros((900, 2), order="F")
    base[rows] = 1.0
    view = base[:, :]
    view.flags.writeable = False  # read-only, but its base is not
    for b in (base, view):
        np.testing.assert_allclose(solve(b), exact(base), rtol=0, atol=1e-12)
    base[7, 0] = 1.0
    for b in (base, view):
        np.testing.assert_allclose(solve(b), exact(base), rtol=0, atol=1e-12 * np.abs(exact(base)).max())
    assert [iparm[30] for phase, iparm, _ in recorded if phase == 33] == [2, 2, 2, 2, 0, 0]


@pytest.mark.skipif("pardiso" not in available_backends(), reason="pypardiso is not installed")
def test_pardiso_never_overwrites_a_factor_still_in_use():
    """Two live factors of one pattern through one reuse dict: the second gets its own handle."""
    a1, a2 = _spd(900, seed=16), _spd(900, seed=17) * 5.0
    b = np.random.default_rng(18).standard_normal((a1.shape[0], 2))
    reuse: dict = {}
    s1 = factorize(a1, "pardiso", reuse)
    s2 = factorize(a2, "pardiso", reuse)  # s1 is alive: no phase 22 on its handle
    np.testing.assert_allclose(a1 @ s1(b), b, rtol=0, atol=1e-12)
    np.testing.assert_allclose(a2 @ s2(b), b, rtol=0, atol=1e-12)
    del s1
    s3 = factorize(a1 * 2.0, "pardiso", reuse)  # the shared handle is free again
    np.testing.assert_allclose(2.0 * (a1 @ s3(b)), b, rtol=0, atol=1e-12)
    np.testing.assert_allclose(a2 @ s2(b), b, rtol=0, atol=1e-12)


@pytest.mark.skipif("pardiso" not in available_backends(), reason="pypardiso is not installed")
def test_pardiso_keeps_one_analysed_handle_per_concurrent_factor(monkeypatch):
    """Threads sharing a model hold two factors at once: both are refactored later, neither analysed again."""
    recorded = _recorded_mkl_calls(monkeypatch)
    a = [_spd(900, seed=19) * (1.0 + k) for k in range(6)]
    b = np.random.default_rng(20).standard_normal((a[0].shape[0], 2))
    reuse: dict = {}
    first, second = factorize(a[0], "pardiso", reuse), factorize(a[1], "pardiso", reuse)
    assert [phase for phase, _, _ in recorded] == [12, 12]
    del first, second
    recorded.clear()
    third, fourth = factorize(a[2], "pardiso", reuse), factorize(a[3], "pardiso", reuse)
    assert [phase for phase, _, _ in recorded] == [22, 22] and len({h for _, _, h in recorded}) == 2
    for k, solve in ((2, third), (3, fourth)):
        np.testing.assert_allclose(a[k] @ solve(b), b, rtol=0, atol=1e-12)
    # No more than PARDISO_HANDLES_KEPT handles are kept: a fifth live factor's handle is not.
    monkeypatch.setattr(linsolve, "PARDISO_HANDLES_KEPT", 2)
    fifth = factorize(a[4], "pardiso", reuse)
    assert len(reuse["pardiso"].handles) == 2
    np.testing.assert_allclose(a[4] @ fifth(b), b, rtol=0, atol=1e-12)


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


def _exact_residual(a: sp.csr_matrix, b: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``b - a x`` in exact rational arithmetic, rounded once to float64."""
    from fractions import Fraction

    coo = a.tocoo()
    exact = [[Fraction(float(v)) for v in b[:, k]] for k in range(b.shape[1])]
    for i, j, v in zip(coo.row, coo.col, coo.data, strict=True):
        for k in range(b.shape[1]):
            exact[k][i] -= Fraction(float(v)) * Fraction(float(x[j, k]))
    return np.array([[float(q) for q in column] for column in exact]).T


@pytest.fixture(params=["compiled", "numpy"])
def residual_path(request, monkeypatch):
    """Each test using it runs with numba's compiled residual (where installed) and with numpy's operations."""
    if request.param == "numpy":
        monkeypatch.setattr(linsolve, "compiled_loops", lambda: None)
    elif linsolve.compiled_loops() is None:
        pytest.skip("numba is not installed")
    return request.param


def test_refinement_residual_is_exact_where_float64_loses_every_digit(residual_path):
    rng = np.random.default_rng(0)
    n = 60
    a = sp.random(n, n, density=0.1, random_state=1)
    a = (a + a.T + sp.diags(rng.uniform(1.0, 3.0, n) * 1e3)).tocsr()
    a.data *= rng.uniform(0.5, 2.0, a.nnz) * 10.0 ** rng.integers(-3, 3, a.nnz)  # rows spanning 6 decades
    b = rng.standard_normal((n, 3))
    x = factorize(a, "splu")(b)  # a residual of rounding size: b - a x cancels every leading digit
    exact = _exact_residual(a, b, x)
    scale = np.abs(exact).max()
    assert np.abs((b - a @ x) - exact).max() > 0.5 * scale  # float64 gets it wrong
    residual = linsolve.residual_function(a)
    # Measured 5e-4 (np.longdouble: 2e-3).
    assert np.abs(residual(b, x) - exact).max() < 2e-3 * scale
    # The two-product form: the residual of x rounded to 24 bits, as accurate in absolute terms.
    x1, r1 = residual.rounded(b, x)
    column_max = np.abs(x).max(axis=0)
    assert np.all(np.abs(x1 - x) <= 2.0**-24 * 2 * column_max) and np.any(x1 != x)
    assert np.all(np.abs(x1 / np.exp2(np.ceil(np.log2(column_max)) - 24)) % 1 == 0)  # 24-bit multiples
    exact1 = _exact_residual(a, b, x1)
    assert np.abs(exact1).max() > 1e3 * scale  # the rounding's residual is large ...
    assert np.abs(r1 - exact1).max() < 2e-3 * scale  # ... and as accurate (measured 3.5e-4; float64: 1.3)


def test_refinement_residual_is_exact_on_rows_that_fill_the_split_to_its_limit(residual_path):
    """Rows of many same-sign entries near the row maximum times x near its maximum: a1 @ x1's sums reach 2^53 quanta.

    With the split's bits counted right every partial sum is exact.  The count
    leaves about three bits of margin (a row of m entries is given
    ``ceil(log2 m)`` bits, and each rounding keeps one bit fewer than it may):
    with five bits more in a1 the sums here round, by about eps |a| |x|, the
    size of the residual itself, and this test fails (checked).
    """
    rng = np.random.default_rng(34)
    n, m = 64, 31
    rows = np.repeat(np.arange(n), m)
    cols = (rows + np.tile(np.arange(m), n)) % n
    a = sp.csr_matrix((rng.uniform(0.75, 1.0, n * m) * 2.0 ** rng.integers(-4, 4, n)[rows], (rows, cols)), shape=(n, n))
    x = rng.uniform(0.75, 1.0, (n, 3))
    b = a @ x  # b - a x cancels every leading digit
    exact = _exact_residual(a, b, x)
    scale = np.abs(exact).max()
    residual = linsolve.residual_function(a)
    assert np.abs(residual(b, x) - exact).max() < 2e-3 * scale
    x1, r1 = residual.rounded(b, x)
    assert np.abs(r1 - _exact_residual(a, b, x1)).max() < 2e-3 * scale


def test_transposed_product_is_a_transposed_times_b_on_either_blas():
    rng = np.random.default_rng(31)
    for n, p, q in ((877, 16, 16), (2007, 16, 16), (3000, 7, 20), (0, 2, 3)):  # numpy's, then MKL's where it is
        a, b = rng.standard_normal((n, p)), rng.standard_normal((n, q))
        out = linsolve.transposed_product(a, b)
        assert out.shape == (p, q)
        np.testing.assert_allclose(out, a.T @ b, rtol=0, atol=1e-13 * max(np.abs(a.T @ b).max(initial=0), 1))
    a_fortran = np.asfortranarray(rng.standard_normal((3000, 16)))
    np.testing.assert_allclose(linsolve.transposed_product(a_fortran, a_fortran), a_fortran.T @ a_fortran, atol=1e-9)
    a_fortran, b = np.asfortranarray(rng.standard_normal((3000, 7))), rng.standard_normal((3000, 20))
    np.testing.assert_allclose(linsolve.transposed_product(a_fortran, b), a_fortran.T @ b, atol=1e-9)  # a' read as is
    with pytest.raises(FemeitError, match="transposed_product"):
        linsolve.transposed_product(np.ones((4, 2)), np.ones((5, 2)))


def test_column_max_abs_equals_numpys_for_every_shape_and_order():
    rng = np.random.default_rng(32)
    for shape in ((877, 16), (31, 4), (32, 4), (65, 1), (0, 5), (5, 0)):
        x = rng.standard_normal(shape) * 10.0 ** rng.integers(-5, 5, shape[1])
        for arr in (x, np.asfortranarray(x), x[::2]):
            np.testing.assert_array_equal(linsolve._column_max_abs(arr), np.abs(arr).max(axis=0, initial=0.0))


def test_sparse_rows_product_matches_scipy_and_the_residual_is_the_same_on_either_path(monkeypatch):
    rng = np.random.default_rng(33)
    a = sp.random(300, 200, density=0.05, random_state=4, format="csr")
    a.indices, a.indptr = a.indices.astype(np.int32), a.indptr.astype(np.int32)
    x = rng.standard_normal((200, 5))
    stacked = linsolve.Residual(a.indptr, a.indices, a.data, 200, 24)  # as [a1; a2] of 150 rows each
    assert (stacked._mkl is not None) == ("pardiso" in available_backends())
    scale = np.abs(a @ x).max()
    for start, stop in ((0, 300), (0, 150), (150, 300)):
        for arr in (x, np.asfortranarray(x), x[:, ::-1].copy()[:, ::-1]):  # read as the same matrix in any order
            out = stacked._product(start, stop, arr)
            np.testing.assert_allclose(out, a[start:stop] @ x, rtol=0, atol=1e-14 * scale)
    if stacked._mkl is not None:  # any row range, by MKL
        out = linsolve._mkl_rows_product(*stacked._mkl, 7, 8, 200, x)
        np.testing.assert_allclose(out, a[7:8] @ x, rtol=0, atol=1e-14 * scale)
    with pytest.raises(FemeitError, match="cannot multiply"):
        stacked._product(0, 300, np.ones((199, 5)))
    with pytest.raises(FemeitError, match="are not rows"):
        stacked._product(0, 301, x)
    # The refinement residual gives the same numbers by MKL's product and by scipy's.
    n = 80
    m = sp.random(n, n, density=0.1, random_state=5)
    m = (m + m.T + sp.diags(rng.uniform(1.0, 3.0, n) * 10)).tocsr()
    b = rng.standard_normal((n, 4))
    x = factorize(m, "splu")(b)
    residual = linsolve.residual_function(m)
    first, (x1, rounded) = residual(b, x), residual.rounded(b, x)
    monkeypatch.setattr(linsolve, "_mkl_sparse", lambda: None)
    residual = linsolve.residual_function(m)
    assert residual._mkl is None  # scipy's products
    np.testing.assert_allclose(residual(b, x), first, rtol=0, atol=1e-12 * np.abs(first).max())
    x1_scipy, rounded_scipy = residual.rounded(b, x)
    np.testing.assert_array_equal(x1_scipy, x1)
    np.testing.assert_allclose(rounded_scipy, rounded, rtol=0, atol=1e-12 * np.abs(rounded).max())


@pytest.mark.skipif("pardiso" not in available_backends(), reason="pypardiso is not installed")
def test_pardiso_names_right_hand_sides_of_the_wrong_length():
    """(n/2, 2k) would reshape into (n, k) without a word: every wrong length is named instead."""
    a = _spd(400, seed=24)
    solve = factorize(a, "pardiso", {})
    for bad in (np.ones((200, 4)), np.ones((200, 4), order="F"), np.ones(399), np.ones((400, 2, 2))):
        with pytest.raises(FemeitError, match="right-hand sides must have shape"):
            solve(bad)
    assert solve(np.ones((400, 2), order="F")).shape == (400, 2)


@pytest.mark.skipif("pardiso" not in available_backends(), reason="pypardiso is not installed")
def test_pardiso_names_bad_rhs_rows():
    a = _spd(400, seed=21)
    for bad in ([a.shape[0]], [-1], [0.5], [[0, 1]]):
        with pytest.raises(FemeitError, match="rhs_rows"):
            factorize(a, "pardiso", {}, rhs_rows=np.array(bad))


@pytest.mark.skipif("pardiso" not in available_backends(), reason="pypardiso is not installed")
def test_pardiso_names_mkls_error_and_frees_the_handle_after_a_failed_factorisation():
    """A matrix that is not positive definite: MKL's error code in a FemeitError, at analysis and at refactoring."""
    a = _spd(400, seed=31)
    indefinite = a - 20.0 * sp.eye(400, format="csr")  # the same pattern, negative eigenvalues
    b = np.random.default_rng(32).standard_normal(400)
    with pytest.raises(FemeitError, match=r"MKL error -?\d+, phase 12"):
        factorize(indefinite, "pardiso", {})
    reuse: dict = {}
    factorize(a, "pardiso", reuse)  # analysed; its solve function is gone, so the handle is idle
    with pytest.raises(FemeitError, match=r"MKL error -?\d+, phase 22"):
        factorize(indefinite, "pardiso", reuse)
    # The failed refactorisation gave its handle back: the next matrix is refactored on it.
    assert len(reuse["pardiso"].handles) == 1 and reuse["pardiso"].handles[0].idle()
    np.testing.assert_allclose(a @ factorize(a, "pardiso", reuse)(b), b, rtol=0, atol=1e-12)
