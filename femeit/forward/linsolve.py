"""Sparse direct solvers behind one interface, chosen automatically.

The CEM system with one electrode potential fixed is symmetric positive
definite, so a Cholesky factorisation applies.  :func:`factorize` picks, in
order: CHOLMOD (scikit-sparse, when importable), PARDISO (pypardiso, when
importable) and scipy's SuperLU, which is always present and fine for 2D and
small 3D P1 models (as femeit's forward benchmarks measure); for very large models,
AMG-preconditioned conjugate gradients (pyamg), which needs no factorisation.  A factorisation is made once
per conductivity and solves all current and adjoint patterns as one block.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from femeit.errors import FemeitError

Solve = Callable[[np.ndarray], np.ndarray]
BACKENDS = ("auto", "cholmod", "pardiso", "splu", "amg")
# Above this many unknowns, ``auto`` prefers AMG-preconditioned CG to SuperLU
# (SuperLU's fill-in makes large 3D factorisations impractical).
AMG_THRESHOLD = 100_000


def _cholmod(a: sp.csc_matrix, reuse: dict | None) -> Solve:
    from sksparse.cholmod import analyze

    # The fill-reducing ordering depends only on the sparsity pattern, which is
    # the same for every conductivity of a model: analyse once, factor often.
    if reuse is not None and "cholmod" in reuse:
        factor = reuse["cholmod"].cholesky(a)
    else:
        analysis = analyze(a)
        if reuse is not None:
            reuse["cholmod"] = analysis
        factor = analysis.cholesky(a)
    return lambda b: factor(b)


def _pardiso(a: sp.csr_matrix) -> Solve:
    import pypardiso

    solver = pypardiso.PyPardisoSolver(mtype=2)  # real symmetric positive definite
    upper = sp.triu(a, format="csr")
    solver.factorize(upper)
    return lambda b: solver.solve(upper, np.asfortranarray(b))


def _splu(a: sp.csc_matrix) -> Solve:
    # MMD on A' + A is the right ordering for a symmetric matrix, and an SPD
    # matrix needs no pivoting: diag_pivot_thresh=0 keeps the diagonal pivots
    # and the symmetric ordering (three times faster than threshold pivoting).
    lu = spla.splu(a, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0, options={"SymmetricMode": True})
    return lu.solve


def _amg(a: sp.csr_matrix, rtol: float = 1e-10) -> Solve:
    import pyamg

    hierarchy = pyamg.smoothed_aggregation_solver(sp.csr_matrix(a), symmetry="symmetric")
    preconditioner = hierarchy.aspreconditioner(cycle="V")

    def solve(b: np.ndarray) -> np.ndarray:
        b2 = b.reshape(len(b), -1)
        out = np.empty_like(b2)
        # One CG run per pattern: the hierarchy (the expensive part) is shared.
        for j in range(b2.shape[1]):
            x, info = spla.cg(a, b2[:, j], rtol=rtol, atol=0.0, M=preconditioner, maxiter=2000)
            if info != 0:
                raise FemeitError(f"AMG-preconditioned CG did not converge to {rtol} on pattern {j}")
            out[:, j] = x
        return out.reshape(b.shape)

    return solve


def available_backends() -> list[str]:
    """The backends that can be imported here, in the order ``auto`` tries them."""
    found = []
    for name, module in (("cholmod", "sksparse.cholmod"), ("pardiso", "pypardiso")):
        try:
            __import__(module)
            found.append(name)
        except ImportError:
            pass
    found.append("splu")
    try:
        __import__("pyamg")
        found.append("amg")
    except ImportError:
        pass
    return found


def factorize(a: sp.spmatrix, backend: str = "auto", reuse: dict | None = None) -> Solve:
    """Factor a sparse SPD matrix; return ``solve(b)`` for b of shape (n,) or (n, k).

    Parameters
    ----------
    a : sparse matrix, shape (n, n)
        Symmetric positive definite.
    backend : {"auto", "cholmod", "pardiso", "splu", "amg"}
        ``auto`` takes the first importable of CHOLMOD, PARDISO, SuperLU, except
        that above ``AMG_THRESHOLD`` unknowns it prefers pyamg's smoothed
        aggregation as a preconditioner for conjugate gradients (relative
        residual 1e-10) to SuperLU.
    reuse : dict, optional
        A dict the caller keeps between calls with matrices of the same
        sparsity pattern; CHOLMOD stores its symbolic analysis there.
    """
    if backend not in BACKENDS:
        raise FemeitError(f"unknown linear solver {backend!r}; choose one of {BACKENDS}")
    name = backend
    if backend == "auto":
        found = available_backends()
        name = found[0]
        if name == "splu" and a.shape[0] > AMG_THRESHOLD and "amg" in found:
            name = "amg"
    try:
        if name == "cholmod":
            return _cholmod(sp.csc_matrix(a), reuse)
        if name == "pardiso":
            return _pardiso(sp.csr_matrix(a))
        if name == "amg":
            return _amg(sp.csr_matrix(a))
        return _splu(sp.csc_matrix(a))
    except ImportError:
        raise FemeitError(f"linear solver {name!r} is not installed here; available: {available_backends()}") from None
    except RuntimeError as exc:  # SuperLU reports a singular matrix this way
        raise FemeitError(f"the system matrix could not be factored ({exc}); is the model grounded?") from None
