"""The frozen part of a forward model: everything that depends on the mesh but not on sigma or z.

A :class:`Discretization` holds the finite-element basis, the element
stiffness matrices for unit conductivity, the electrode blocks (facet mass
matrices and loads of the complete electrode model) and an
:class:`AssemblyPlan`, the precomputed map from element-matrix entries to the
grounded CSR system.  It is built once per (mesh, order, electrode model) and
shared, read-only, by every :class:`~femeit.forward.ForwardModel` on it, whatever
its protocol or contact impedance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import skfem

from femeit.errors import FemeitError
from femeit.mesh import EITMesh

ELECTRODE_MODELS = ("cem", "point", "shunt")
_ELEMENTS = {
    (2, 1): skfem.ElementTriP1,
    (2, 2): skfem.ElementTriP2,
    (3, 1): skfem.ElementTetP1,
    (3, 2): skfem.ElementTetP2,
}


@skfem.BilinearForm
def _mass(u, v, _):
    return u * v


@skfem.LinearForm
def _unit(v, _):
    return v


@dataclass(frozen=True, eq=False)
class AssemblyPlan:
    """Where every element-matrix entry and electrode-block entry lands in the grounded CSR system.

    The unknowns are the dofs mapped through ``dof_to_unknown`` plus, for the
    complete electrode model, the electrode potentials; the ground unknown
    (electrode 0's potential) is removed.  The system is symmetric, so only its
    upper triangle is summed: a new conductivity costs one sparse
    matrix-vector product, ``upper = upper_scatter @ sigma``, the electrode
    block's values added at their slots, and the gather ``upper[mirror]`` into
    the CSR data array.

    Attributes
    ----------
    upper_scatter : scipy.sparse.csr_matrix, shape (n_upper_entries, n_elements)
        Row ``s`` holds, in element order, the unit-conductivity element-matrix
        entries that land in the ``s``-th upper-triangle entry (diagonal
        included, in CSR order; entries on the ground's row or column are
        dropped), so that ``upper_scatter @ sigma`` is the stiffness part of
        the upper triangle.
    mirror : ndarray of int, shape (n_entries,)
        Upper-triangle entry of each CSR data slot (its own, or its transpose's).
    block_rows, block_cols : ndarray of int, shape (n_block_entries,)
        Unknown indices of the electrode block's entries (its sparsity does not depend on z).
    keep_block : ndarray of bool, shape (n_block_entries,)
        Electrode-block entries that survive grounding and lie in the upper triangle.
    block_slots : ndarray of int, shape (keep_block.sum(),)
        Upper-triangle entry of each kept electrode-block entry (distinct entries).
    n_entries : int
        Number of stored entries of the system matrix.
    indices, indptr : ndarray of int
        CSR structure of the grounded system (read-only: every system matrix shares them).
    diagonal : ndarray of int, shape (size,)
        CSR data slot of each diagonal entry.
    size : int
        Order of the grounded system, ``n_unknowns - 1``.
    renumber : ndarray of int, shape (n_unknowns,)
        Unknown -> row of the grounded system, -1 for the ground.
    """

    upper_scatter: sp.csr_matrix
    mirror: np.ndarray
    block_rows: np.ndarray
    block_cols: np.ndarray
    keep_block: np.ndarray
    block_slots: np.ndarray
    n_entries: int
    indices: np.ndarray
    indptr: np.ndarray
    diagonal: np.ndarray
    size: int
    renumber: np.ndarray

    @property
    def free(self) -> np.ndarray:
        """Mask of the unknowns kept in the grounded system, shape (n_unknowns,)."""
        return self.renumber >= 0


class Discretization:
    """Basis, element matrices, electrode blocks and assembly plan of one mesh (read-only once built).

    Parameters
    ----------
    mesh : EITMesh
        The mesh with its electrodes.
    order : {1, 2}
        Polynomial degree of the elements.
    electrode_model : {"cem", "point", "shunt"}
        Complete electrode model, point electrodes (one node each: the node of
        a one-node electrode, else the electrode node nearest its centre), or
        shunt (perfectly conducting electrodes, no contact impedance).

    Attributes
    ----------
    basis : skfem.CellBasis
    n_dofs : int
        Finite-element degrees of freedom.
    n_unknowns : int
        Unknowns of the ungrounded system: dofs (shunt: free dofs) plus one
        potential per electrode for the CEM and shunt models.
    element_stiffness : ndarray, shape (n_elements, k, k)
        Element stiffness matrices for unit conductivity.
    element_dofs : ndarray of int, shape (n_elements, k)
    dof_to_unknown : ndarray of int, shape (n_dofs,)
        Unknown of each dof (identity except in the shunt model).
    electrode_unknowns : ndarray of int, shape (L,)
        Unknown holding each electrode's potential.
    electrode_mass, electrode_load : list of sparse matrix / ndarray
        ``M_l = int_{e_l} phi_i phi_j`` and ``b_l = int_{e_l} phi_i`` (CEM only, else empty).
    electrode_size : ndarray, shape (L,)
        ``|e_l|`` (CEM only, else empty).
    plan : AssemblyPlan
    """

    def __init__(self, mesh: EITMesh, order: int = 1, electrode_model: str = "cem") -> None:
        if not isinstance(mesh, EITMesh):
            raise FemeitError(f"mesh must be an EITMesh, got {type(mesh).__name__}")
        if order not in (1, 2):
            raise FemeitError(f"order must be 1 or 2, got {order!r}")
        if electrode_model not in ELECTRODE_MODELS:
            raise FemeitError(f"electrode_model must be one of {ELECTRODE_MODELS}, got {electrode_model!r}")
        for e in mesh.electrodes:
            if e.is_point and electrode_model != "point":
                raise FemeitError(f"electrode {e.name} is a point electrode (one node); use electrode_model='point'")
        self.mesh = mesh
        self.order = order
        self.electrode_model = electrode_model
        element = _ELEMENTS[(mesh.dim, order)]()
        # Affine elements: gradients are polynomials of degree order - 1, so this
        # rule is exact.  Curved (second-order, isoparametric) elements: the
        # integrand is rational; degree 2 * order + 2 keeps the quadrature error
        # below the discretisation error (one order above the usual 2 * order).
        intorder = 2 * (order - 1) if mesh.mesh.affine else 2 * order + 2
        basis = skfem.CellBasis(mesh.mesh, element, intorder=intorder)
        self.basis = basis
        self.n_dofs = basis.N
        # Element stiffness matrices for unit conductivity: (n_elem, k, k).
        grads = np.stack([basis.basis[i][0].grad for i in range(basis.Nbfun)])  # (k, dim, n_elem, n_qp)
        self.element_stiffness = np.einsum("ideq,jdeq,eq->eij", grads, grads, basis.dx, optimize=True)
        self.element_dofs = np.ascontiguousarray(basis.element_dofs.T)  # (n_elem, k)
        self.electrode_mass: list = []
        self.electrode_load: list = []
        self.electrode_size = np.empty(0)
        self.facet_bases: list = []
        self._setup_electrodes()
        self.plan = self._plan_assembly()
        m = self.plan.size
        # Every system matrix is a shallow copy of this one with its own data (see system_matrix).
        self._system_template = sp.csr_matrix(
            (np.zeros(self.plan.n_entries), self.plan.indices, self.plan.indptr), shape=(m, m)
        )
        self._system_template.has_canonical_format = True  # the plan's structure: sorted, distinct column indices
        self._stiffness_plan: tuple | None = None
        for a in (self.element_stiffness, self.element_dofs, self.dof_to_unknown, self.electrode_unknowns):
            a.flags.writeable = False

    # ------------------------------------------------------------- set-up
    def _setup_electrodes(self) -> None:
        mesh, L, n = self.mesh, self.mesh.n_electrodes, self.n_dofs
        if self.electrode_model == "point":
            nodes = []
            for e in mesh.electrodes:
                if e.is_point:
                    nodes.append(e.node)
                else:
                    candidates = np.unique(e.facets)
                    d = np.linalg.norm(mesh.points[candidates] - e.centre, axis=1)
                    nodes.append(int(candidates[np.argmin(d)]))
            # Vertex dofs of scikit-fem's Lagrange elements are numbered as the nodes.
            self.n_unknowns = n
            self.dof_to_unknown = np.arange(n)
            self.electrode_unknowns = np.array(nodes)
            return
        facet_indices = [mesh.electrode_facets(k) for k in range(L)]
        self.facet_bases = [
            skfem.FacetBasis(mesh.mesh, self.basis.elem, facets=idx, intorder=2 * self.order) for idx in facet_indices
        ]
        if self.electrode_model == "shunt":
            # Each electrode's dofs collapse into one unknown: x = [u_free; U].
            on = np.full(n, -1)
            for l_, idx in enumerate(facet_indices):
                dofs = self.basis.get_dofs(facets=idx).all()  # vertex and (P2) edge dofs on the facets
                if np.any(on[dofs] >= 0):
                    raise FemeitError(f"electrode {mesh.electrodes[l_].name} touches another electrode")
                on[dofs] = l_
            free = np.flatnonzero(on < 0)
            col = np.empty(n, dtype=np.int64)
            col[free] = np.arange(len(free))
            col[on >= 0] = len(free) + on[on >= 0]
            self.dof_to_unknown = col
            self.n_unknowns = len(free) + L
            self.electrode_unknowns = len(free) + np.arange(L)
            return
        self.electrode_mass = [skfem.asm(_mass, fb) for fb in self.facet_bases]
        self.electrode_load = [skfem.asm(_unit, fb) for fb in self.facet_bases]
        self.electrode_size = np.array([b.sum() for b in self.electrode_load])
        self.dof_to_unknown = np.arange(n)
        self.n_unknowns = n + L
        self.electrode_unknowns = n + np.arange(L)

    def electrode_block(self, z: np.ndarray) -> sp.csr_matrix | None:
        """The CEM's electrode block for contact impedances ``z`` (shape (L,)), or None for the other models.

        ``[[sum_l M_l / z_l, -b_l / z_l], [-b_l' / z_l, diag(|e_l| / z_l)]]`` on (dofs, electrode potentials).
        """
        if self.electrode_model != "cem":
            return None
        e = sum(m / zl for m, zl in zip(self.electrode_mass, z, strict=True))
        c = sp.csr_matrix(np.column_stack([b / zl for b, zl in zip(self.electrode_load, z, strict=True)]))
        d = sp.diags(self.electrode_size / z)
        return sp.bmat([[e, -c], [-c.T, d]], format="csr")

    def block_data(self, z: np.ndarray | None) -> np.ndarray:
        """Values of the electrode block in the order of ``plan.block_rows`` / ``plan.block_cols``."""
        block = self.electrode_block(z) if z is not None else None
        if block is None:
            return np.empty(0)
        coo = block.tocoo()
        if not (np.array_equal(coo.row, self.plan.block_rows) and np.array_equal(coo.col, self.plan.block_cols)):
            raise FemeitError("internal: the electrode block's sparsity changed with z")  # pragma: no cover
        return coo.data

    def _plan_assembly(self) -> AssemblyPlan:
        """Precompute where every element-matrix entry lands in the grounded CSR system."""
        k = self.element_dofs.shape[1]
        unknown = self.dof_to_unknown[self.element_dofs]  # (n_elem, k)
        rows = np.repeat(unknown, k, axis=1).ravel()
        cols = np.tile(unknown, (1, k)).ravel()
        const_rows, const_cols = np.empty(0, np.int64), np.empty(0, np.int64)
        block = self.electrode_block(np.ones(self.mesh.n_electrodes))  # the pattern does not depend on z
        if block is not None:
            coo = block.tocoo()
            const_rows, const_cols = coo.row.astype(np.int64), coo.col.astype(np.int64)
        ground = int(self.electrode_unknowns[0])
        n = self.n_unknowns
        renumber = np.arange(n, dtype=np.int64) - (np.arange(n) > ground)
        renumber[ground] = -1
        all_rows = renumber[np.concatenate([rows, const_rows])]
        all_cols = renumber[np.concatenate([cols, const_cols])]
        m = n - 1
        # The system is symmetric: sum only the upper triangle's entries (10 of an element's
        # 16 in 3D P1: a smaller map to read per conductivity) and copy them to the lower.
        upper = (all_rows >= 0) & (all_cols >= all_rows)  # the ground's row and column dropped
        order, slot, upper_keys = _group(all_rows[upper] * m + all_cols[upper])
        upper_rows, upper_cols = upper_keys // m, upper_keys % m
        off = upper_rows != upper_cols
        full = np.sort(np.concatenate([upper_keys, upper_cols[off] * m + upper_rows[off]]))  # CSR order
        upper_element = upper[: len(rows)]
        n_upper_element = int(upper_element.sum())
        from_element = order < n_upper_element
        upper_scatter = _scatter_matrix(
            self.element_stiffness,
            np.flatnonzero(upper_element)[order[from_element]],
            slot[from_element],
            len(upper_keys),
        )
        block_slots = np.empty(len(order) - n_upper_element, dtype=np.int64)
        block_slots[order[~from_element] - n_upper_element] = slot[~from_element]
        if len(np.unique(block_slots)) != len(block_slots):  # pragma: no cover - bmat's CSR sums duplicates
            raise FemeitError("internal: the electrode block has duplicate entries")
        full_rows, full_cols = full // m, full % m
        mirror = np.searchsorted(upper_keys, np.minimum(full_rows, full_cols) * m + np.maximum(full_rows, full_cols))
        index = np.int32 if len(full) < 2**31 else np.int64
        plan = AssemblyPlan(
            upper_scatter=upper_scatter,
            mirror=mirror.astype(index),
            block_rows=const_rows,
            block_cols=const_cols,
            keep_block=upper[len(rows) :],
            block_slots=block_slots,
            n_entries=len(full),
            indices=full_cols.astype(np.int32),
            indptr=np.searchsorted(full_rows, np.arange(m + 1)).astype(index),
            diagonal=np.flatnonzero(full_rows == full_cols).astype(index),
            size=m,
            renumber=renumber,
        )
        for array in (plan.mirror, plan.indices, plan.indptr, plan.diagonal):
            array.flags.writeable = False  # shared by every system matrix of the model
        return plan

    # ------------------------------------------------------------ assembly
    def system_matrix(self, sigma: np.ndarray, block_data: np.ndarray) -> sp.csr_matrix:
        """The grounded SPD system for per-element ``sigma`` and electrode-block values, shape (size, size)."""
        plan = self.plan
        upper = plan.upper_scatter @ sigma
        if len(plan.block_slots):
            upper[plan.block_slots] += block_data[plan.keep_block]
        # A shallow copy of the template shares its read-only structure and flags, given new
        # data: scipy's constructor checks the structure again (11 us, and about 50 us right
        # after a factorisation has evicted the caches, on a 377-unknown system: 5 % of its
        # forward solve).
        template = self._system_template
        system = object.__new__(type(template))  # copy.copy's own steps, without its dispatch (3 us to 0.8)
        system.__dict__.update(template.__dict__)
        system.data = upper[plan.mirror]
        return system

    def stiffness(self, weights: np.ndarray) -> sp.csr_matrix:
        """``sum_e weights_e K_e`` in dof space (no electrodes, no grounding), shape (n_dofs, n_dofs)."""
        if self._stiffness_plan is None:  # made on first use: the forward solve does not need it
            k = self.element_dofs.shape[1]
            dofs = self.element_dofs.astype(np.int64)  # row * n_dofs + column overflows int32 beyond 46k dofs
            key = (np.repeat(dofs, k, axis=1) * self.n_dofs + np.tile(dofs, (1, k))).ravel()
            order, slot, unique = _group(key)
            scatter = _scatter_matrix(self.element_stiffness, order, slot, len(unique))
            indptr = np.searchsorted(unique // self.n_dofs, np.arange(self.n_dofs + 1))
            self._stiffness_plan = (scatter, (unique % self.n_dofs).astype(np.int32), indptr.astype(np.int64))
        scatter, indices, indptr = self._stiffness_plan
        data = scatter @ np.asarray(weights, dtype=float)
        return sp.csr_matrix((data, indices, indptr), shape=(self.n_dofs, self.n_dofs))


def _group(key: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Entries grouped by key with one stable sort: (order, group of each sorted entry, the distinct keys).

    ``key[order]`` is sorted, entries of one key keeping their original order;
    ``slot[i]`` numbers the distinct key of sorted position ``i`` (0, 1, ...).
    """
    order = np.argsort(key, kind="stable")
    ordered = key[order]
    new = np.ones(len(key), dtype=bool)
    np.not_equal(ordered[1:], ordered[:-1], out=new[1:])
    slot = np.cumsum(new) - 1
    return order, slot, ordered[new]


def _scatter_matrix(element_matrices: np.ndarray, entries: np.ndarray, slot: np.ndarray, n_slots: int) -> sp.csr_matrix:
    """Sparse (n_slots, n_elements) map from per-element weights to summed, weighted element-matrix entries.

    ``entries`` are flat indices into ``element_matrices`` (shape (n_elements, k, k)),
    already grouped by output slot (``slot``, non-decreasing) and in element order
    within a slot, so the product sums each slot's entries in that order: the same
    bits as a ``bincount`` of the weighted entries.
    """
    n_elem, k, _ = element_matrices.shape
    return sp.csr_matrix(
        (
            element_matrices.reshape(-1)[entries],
            (entries // (k * k)).astype(np.int32),
            np.concatenate([[0], np.cumsum(np.bincount(slot, minlength=n_slots))]),
        ),
        shape=(n_slots, n_elem),
    )
