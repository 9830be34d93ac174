"""Sparse direct solvers behind one interface, chosen automatically.

The CEM system with one electrode potential fixed is symmetric positive
definite, so a Cholesky factorisation applies.  :func:`factorize` picks, in
order: CHOLMOD (scikit-sparse, when importable), PARDISO (pypardiso, when
importable) and scipy's SuperLU, which is always present and fine for 2D and
small 3D P1 models (see the timings in DESIGN.md).  A factorisation is made once
per conductivity and solves all current and adjoint patterns as one block.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from femeit.errors import FemeitError

Solve = Callable[[np.ndarray], np.ndarray]
BACKENDS = ("auto", "cholmod", "pardiso", "splu")


def _cholmod(a: sp.csc_matrix) -> Solve:
    from sksparse.cholmod import cholesky

    factor = cholesky(a)
    return lambda b: factor(b)


def _pardiso(a: sp.csr_matrix) -> Solve:
    import pypardiso

    solver = pypardiso.PyPardisoSolver(mtype=2)  # real symmetric positive definite
    upper = sp.triu(a, format="csr")
    solver.factorize(upper)
    return lambda b: solver.solve(upper, np.asfortranarray(b))


def _splu(a: sp.csc_matrix) -> Solve:
    # MMD on A' + A is the right ordering for a symmetric matrix.
    lu = spla.splu(a, permc_spec="MMD_AT_PLUS_A", options={"SymmetricMode": True})
    return lu.solve


def available_backends() -> list[str]:
    """The backends that can be imported here, in the order ``auto`` tries them."""
    found = []
    for name, module in (("cholmod", "sksparse.cholmod"), ("pardiso", "pypardiso")):
        try:
            __import__(module)
            found.append(name)
        except ImportError:
            pass
    return [*found, "splu"]


def factorize(a: sp.spmatrix, backend: str = "auto") -> Solve:
    """Factor a sparse SPD matrix; return ``solve(b)`` for b of shape (n,) or (n, k).

    Parameters
    ----------
    a : sparse matrix, shape (n, n)
        Symmetric positive definite.
    backend : {"auto", "cholmod", "pardiso", "splu"}
        ``auto`` takes the first importable of CHOLMOD, PARDISO, SuperLU.
    """
    if backend not in BACKENDS:
        raise FemeitError(f"unknown linear solver {backend!r}; choose one of {BACKENDS}")
    name = available_backends()[0] if backend == "auto" else backend
    try:
        if name == "cholmod":
            return _cholmod(sp.csc_matrix(a))
        if name == "pardiso":
            return _pardiso(sp.csr_matrix(a))
        return _splu(sp.csc_matrix(a))
    except ImportError:
        raise FemeitError(f"linear solver {name!r} is not installed here; available: {available_backends()}") from None
    except RuntimeError as exc:  # SuperLU reports a singular matrix this way
        raise FemeitError(f"the system matrix could not be factored ({exc}); is the model grounded?") from None
