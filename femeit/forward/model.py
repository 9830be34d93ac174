"""The forward model: complete, point and shunt electrode models on P1 or P2 elements.

Complete electrode model (CEM), for potential u in the domain and electrode
potentials U_l, conductivity sigma and contact impedance z_l::

    div(sigma grad u) = 0                         in the domain
    u + z_l sigma du/dn = U_l                     on electrode l
    int_{e_l} sigma du/dn = I_l                   for each electrode
    sigma du/dn = 0                               elsewhere on the boundary

Its Galerkin system for x = [u; U] is::

    [ K(sigma) + sum_l M_l / z_l    -b_l / z_l  ] [u]   [0]
    [ -b_l' / z_l                   |e_l| / z_l ] [U] = [I]

with K the stiffness matrix (element-wise sigma), M_l = int_{e_l} phi_i phi_j,
b_l = int_{e_l} phi_i.  The point model injects I_l at one node and reads
U_l = u(node); the shunt model makes each electrode one perfectly conducting
unknown (z -> 0).  In every model the potential of electrode 0 is fixed to 0
(the ground), which keeps the system symmetric positive definite for Cholesky;
returned electrode potentials are then shifted to zero mean.  Only potential
differences are physical, and measurements are differences.

The stiffness matrix is assembled from element matrices computed once per mesh
(``K = sum_e sigma_e K_e``), so a new conductivity costs one weighted sum, one
factorisation and one block solve for all current and measurement patterns.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import skfem

from femeit.errors import FemeitError
from femeit.forward.linsolve import BACKENDS, factorize
from femeit.mesh import EITMesh
from femeit.protocol import Protocol

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


@dataclass(frozen=True)
class Solution:
    """Fields of one conductivity for every current pattern.

    Attributes
    ----------
    electrode_potentials : ndarray, shape (n_injections, L)
        Electrode potentials, V, shifted to zero mean per pattern.
    potentials : ndarray, shape (n_injections, n_dofs)
        Finite-element potential coefficients (nodal values for P1), V, with the same shift.
    voltages : ndarray, shape (n_rows,)
        The protocol's readings, V.
    """

    electrode_potentials: np.ndarray
    potentials: np.ndarray
    voltages: np.ndarray


class ForwardModel:
    """Voltages and Jacobians of an EIT/ERT sensor for any conductivity.

    Parameters
    ----------
    mesh : EITMesh
        The mesh with its electrodes.
    protocol : Protocol
        Current patterns and readings; its electrode count must match the mesh's.
    contact_impedance : float or array_like, shape (L,)
        Contact impedance z of each electrode, ohm m^2 in 3D, ohm m in 2D
        (ignored by the point and shunt models).
    order : {1, 2}
        Polynomial degree of the elements.
    electrode_model : {"cem", "point", "shunt"}
        Complete electrode model, point electrodes (one node each: the node of
        a one-node electrode, else the electrode node nearest its centre), or
        shunt (perfectly conducting electrodes, no contact impedance).
    solver : {"auto", "cholmod", "pardiso", "splu", "amg"}
        Sparse direct solver (see :mod:`femeit.forward.linsolve`).

    Examples
    --------
    >>> model = ForwardModel(mesh, Protocol.adjacent(16), contact_impedance=0.01)  # doctest: +SKIP
    >>> v = model.simulate(1.0)        # homogeneous 1 S/m, shape (208,)
    >>> J = model.jacobian(1.0)        # shape (208, n_elements)
    """

    def __init__(
        self,
        mesh: EITMesh,
        protocol: Protocol,
        contact_impedance: float | np.ndarray = 0.01,
        order: int = 1,
        electrode_model: str = "cem",
        solver: str = "auto",
    ) -> None:
        if not isinstance(mesh, EITMesh):
            raise FemeitError(f"mesh must be an EITMesh, got {type(mesh).__name__}")
        if not isinstance(protocol, Protocol):
            raise FemeitError(f"protocol must be a Protocol, got {type(protocol).__name__}")
        if protocol.n_electrodes != mesh.n_electrodes:
            raise FemeitError(
                f"the protocol uses {protocol.n_electrodes} electrodes but the mesh has {mesh.n_electrodes}"
            )
        if order not in (1, 2):
            raise FemeitError(f"order must be 1 or 2, got {order!r}")
        if solver not in BACKENDS:
            raise FemeitError(f"unknown linear solver {solver!r}; choose one of {BACKENDS}")
        if electrode_model not in ELECTRODE_MODELS:
            raise FemeitError(f"electrode_model must be one of {ELECTRODE_MODELS}, got {electrode_model!r}")
        self.mesh = mesh
        self.protocol = protocol
        self.order = order
        self.electrode_model = electrode_model
        self.solver = solver
        L = mesh.n_electrodes
        self.contact_impedance = _contact_impedance(contact_impedance, L) if electrode_model == "cem" else None
        for e in mesh.electrodes:
            if e.is_point and electrode_model != "point":
                raise FemeitError(f"electrode {e.name} is a point electrode (one node); use electrode_model='point'")
        self._setup_stiffness()
        self._setup_electrodes()
        # Unique measurement patterns: each needs one adjoint field.
        self._meas_patterns, self._row_meas = np.unique(protocol.measurements, axis=0, return_inverse=True)
        self._row_meas = self._row_meas.ravel()
        self._meas_reuse = self._plan_adjoint_reuse()
        self._solver_state: dict = {}
        self._cache_key: bytes | None = None
        self._cache: tuple | None = None
        self._plan_assembly()

    def _plan_assembly(self) -> None:
        """Precompute where every element-matrix entry lands in the grounded CSR system.

        The unknowns are the dofs mapped through ``_dof_to_unknown`` (identity, or
        the shunt collapse of electrode dofs) plus, for the CEM, the electrode
        potentials; the ground unknown (electrode 0's potential) is removed.  A
        new conductivity then costs one ``bincount`` into the CSR data array.
        """
        k = self._element_dofs.shape[1]
        unknown = self._dof_to_unknown[self._element_dofs]  # (n_elem, k)
        rows = np.repeat(unknown, k, axis=1).ravel()
        cols = np.tile(unknown, (1, k)).ravel()
        const_rows, const_cols, const_data = np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0)
        if self._electrode_block is not None:
            coo = self._electrode_block.tocoo()
            const_rows, const_cols, const_data = coo.row.astype(np.int64), coo.col.astype(np.int64), coo.data
        ground = int(self._electrode_dofs[0])
        n = self._n_unknowns
        renumber = np.arange(n, dtype=np.int64) - (np.arange(n) > ground)
        renumber[ground] = -1
        all_rows = renumber[np.concatenate([rows, const_rows])]
        all_cols = renumber[np.concatenate([cols, const_cols])]
        keep = (all_rows >= 0) & (all_cols >= 0)
        m = n - 1
        key = all_rows[keep] * m + all_cols[keep]
        unique, inverse = np.unique(key, return_inverse=True)
        self._plan = {
            "keep_element": keep[: len(rows)],
            "keep_const": keep[len(rows) :],
            "inverse": inverse.ravel(),
            "n_entries": len(unique),
            "indices": (unique % m).astype(np.int32),
            "indptr": np.searchsorted(unique // m, np.arange(m + 1)).astype(np.int64),
            "const_data": const_data,
            "const_rows": const_rows,
            "const_cols": const_cols,
            "size": m,
            "renumber": renumber,
        }

    # ------------------------------------------------------------- set-up
    def _setup_stiffness(self) -> None:
        mesh = self.mesh
        element = _ELEMENTS[(mesh.dim, self.order)]()
        basis = skfem.CellBasis(mesh.mesh, element, intorder=2 * (self.order - 1))
        self.basis = basis
        self.n_dofs = basis.N
        # Element stiffness matrices for unit conductivity: (n_elem, k, k).
        grads = np.stack([basis.basis[i][0].grad for i in range(basis.Nbfun)])  # (k, dim, n_elem, n_qp)
        self._element_stiffness = np.einsum("ideq,jdeq,eq->eij", grads, grads, basis.dx, optimize=True)
        dofs = basis.element_dofs.T  # (n_elem, k)
        self._element_dofs = np.ascontiguousarray(dofs)
        self._ke_flat = self._element_stiffness.reshape(len(dofs), -1)

    def _setup_electrodes(self) -> None:
        mesh, L, n = self.mesh, self.mesh.n_electrodes, self.n_dofs
        element = self.basis.elem
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
            self._n_unknowns = n
            self._dof_to_unknown = np.arange(n)
            self._electrode_block = None
            self._electrode_dofs = np.array(nodes)
            return
        facet_indices = [mesh.electrode_facets(k) for k in range(L)]
        self._facet_bases = [
            skfem.FacetBasis(mesh.mesh, element, facets=idx, intorder=2 * self.order) for idx in facet_indices
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
            self._dof_to_unknown = col
            self._n_unknowns = len(free) + L
            self._electrode_block = None
            self._electrode_dofs = len(free) + np.arange(L)
            return
        mass = [skfem.asm(_mass, fb) for fb in self._facet_bases]
        load = [skfem.asm(_unit, fb) for fb in self._facet_bases]
        self._electrode_mass, self._electrode_load = mass, load
        self._electrode_size = np.array([b.sum() for b in load])
        self._dof_to_unknown = np.arange(n)
        self._n_unknowns = n + L
        self._electrode_dofs = n + np.arange(L)
        self._electrode_block = self._cem_block(self.contact_impedance)

    def _cem_block(self, z: np.ndarray) -> sp.csr_matrix:
        e = sum(m / zl for m, zl in zip(self._electrode_mass, z, strict=True))
        c = sp.csr_matrix(np.column_stack([b / zl for b, zl in zip(self._electrode_load, z, strict=True)]))
        d = sp.diags(self._electrode_size / z)
        return sp.bmat([[e, -c], [-c.T, d]], format="csr")

    # ------------------------------------------------------ conductivity
    def conductivity(self, sigma: float | np.ndarray | Mapping[str, float]) -> np.ndarray:
        """Per-element conductivity, S/m, shape (n_elements,), from any accepted form.

        ``sigma`` may be a number (homogeneous), a mapping region name -> value
        (every region of the mesh must be given), or an array of one value per element.
        """
        mesh = self.mesh
        if isinstance(sigma, Mapping):
            missing = [r for r in mesh.region_names if r not in sigma]
            unknown = [r for r in sigma if r not in mesh.region_names]
            if missing or unknown:
                raise FemeitError(
                    f"conductivity by region must give every region exactly: missing {missing}, "
                    f"unknown {unknown} (the mesh has {list(mesh.region_names)})"
                )
            values = np.array([float(sigma[r]) for r in mesh.region_names])
            out = values[mesh.element_region]
        else:
            arr = np.asarray(sigma, dtype=float)
            if arr.ndim == 0:
                out = np.full(mesh.n_elements, float(arr))
            elif arr.shape == (mesh.n_elements,):
                out = arr
            else:
                raise FemeitError(
                    f"conductivity must be a number, a region mapping or an array of {mesh.n_elements} "
                    f"values (one per element), got shape {arr.shape}"
                )
        if not np.all(np.isfinite(out)):
            raise FemeitError("conductivity contains NaN or infinite values")
        if np.any(out <= 0):
            raise FemeitError(f"conductivity must be positive, got minimum {out.min():.3g} S/m")
        return out

    def grounded_system(self, sigma: np.ndarray) -> sp.csr_matrix:
        """The grounded SPD system matrix (electrode 0's unknown removed), shape (n_unknowns - 1,) * 2."""
        plan = self._plan
        weights = np.concatenate(
            [
                (self._ke_flat * sigma[:, None]).ravel()[plan["keep_element"]],
                plan["const_data"][plan["keep_const"]],
            ]
        )
        data = np.bincount(plan["inverse"], weights=weights, minlength=plan["n_entries"])
        m = plan["size"]
        return sp.csr_matrix((data, plan["indices"], plan["indptr"]), shape=(m, m))

    # ----------------------------------------------------------- solving
    def _solve_patterns(self, solve, patterns: np.ndarray) -> np.ndarray:
        """Fields x (unknown space, ground 0) for current patterns of shape (n, L); returns (n, n_unknowns)."""
        renumber = self._plan["renumber"]
        rhs = np.zeros((self._plan["size"], len(patterns)))
        targets = renumber[self._electrode_dofs]
        # The ground electrode's current leaves through the fixed potential.
        np.add.at(rhs, targets[1:], patterns[:, 1:].T)
        x = np.zeros((self._n_unknowns, len(patterns)))
        if len(patterns):
            x[renumber >= 0] = np.asarray(solve(rhs)).reshape(-1, len(patterns))
        return x.T

    def _injection_fields(self, sigma: np.ndarray) -> np.ndarray:
        """Fields of the current patterns, shape (P, n_unknowns); the factorisation is kept for adjoints."""
        key = hashlib.sha1(sigma.tobytes()).digest()
        if key != self._cache_key:
            solve = factorize(self.grounded_system(sigma), self.solver, self._solver_state)
            self._cache_key = key
            self._cache = {"solve": solve, "injections": self._solve_patterns(solve, self.protocol.injections)}
        return self._cache["injections"]

    def _fields(self, sigma: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Fields of the current patterns (P, n_unknowns) and of the measurement patterns (Q, n_unknowns).

        A measurement pattern driven as a current gives the adjoint field.  When
        it is a multiple of a current pattern (adjacent and opposite protocols)
        the field is that pattern's field rescaled; the others are solved with
        the factorisation already made for ``sigma``.
        """
        x_inj = self._injection_fields(sigma)
        if "measurements" not in self._cache:
            x_meas = np.empty((len(self._meas_patterns), self._n_unknowns))
            missing = []
            for q, p, scale in self._meas_reuse:
                if p >= 0:
                    x_meas[q] = scale * x_inj[p]
                else:
                    missing.append(q)
            if missing:
                x_meas[missing] = self._solve_patterns(self._cache["solve"], self._meas_patterns[missing])
            self._cache["measurements"] = x_meas
        return x_inj, self._cache["measurements"]

    def _plan_adjoint_reuse(self) -> list[tuple[int, int, float]]:
        """For each measurement pattern q: (q, injection p or -1, scale) with pattern_q = scale * injection_p."""
        inj = self.protocol.injections
        norms = np.linalg.norm(inj, axis=1)
        lookup = {}
        for p in range(len(inj)):
            lookup.setdefault(np.round(inj[p] / norms[p], 12).tobytes(), p)
        out = []
        for q, pattern in enumerate(self._meas_patterns):
            nq = np.linalg.norm(pattern)
            p = lookup.get(np.round(pattern / nq, 12).tobytes(), -1) if nq > 0 else -1
            out.append((q, p, nq / norms[p] if p >= 0 else 0.0))
        return out

    def _to_dofs(self, x: np.ndarray) -> np.ndarray:
        """Unknowns -> finite-element coefficients, shape (n_patterns, n_dofs)."""
        return x[:, self._dof_to_unknown]

    def solve(self, sigma: float | np.ndarray | Mapping[str, float]) -> Solution:
        """Fields and readings for ``sigma`` (see :class:`Solution`)."""
        s = self.conductivity(sigma)
        x_inj = self._injection_fields(s)
        u_el = x_inj[:, self._electrode_dofs]
        shift = u_el.mean(axis=1, keepdims=True)
        voltages = np.einsum("ij,ij->i", self.protocol.measurements, u_el[self.protocol.row_injection])
        return Solution(u_el - shift, self._to_dofs(x_inj) - shift, voltages)

    def electrode_currents(self, solution: Solution) -> np.ndarray:
        """Current through each electrode, A, recomputed from the fields (CEM only).

        ``I_l = (|e_l| U_l - int_{e_l} u) / z_l``: a check of current conservation,
        since the model imposes the patterns only weakly through this relation.

        Returns
        -------
        ndarray, shape (n_injections, L)
        """
        if self.electrode_model != "cem":
            raise FemeitError("electrode currents are recomputed only for the complete electrode model")
        integrals = np.column_stack([solution.potentials @ b for b in self._electrode_load])
        return (self._electrode_size * solution.electrode_potentials - integrals) / self.contact_impedance

    def simulate(self, sigma: float | np.ndarray | Mapping[str, float]) -> np.ndarray:
        """The protocol's readings for conductivity ``sigma``, V, shape (n_rows,)."""
        return self.solve(sigma).voltages

    def jacobian(
        self,
        sigma: float | np.ndarray | Mapping[str, float],
        *,
        log_conductivity: bool = False,
        basis: sp.spmatrix | np.ndarray | None = None,
        chunk_bytes: int = 4 * 2**20,
    ) -> np.ndarray:
        """Sensitivity of the readings to the element conductivities, by the adjoint method.

        ``J[i, e] = -int_e sigma-free grad u_i . grad w_i`` where u_i is the field of
        row i's current pattern and w_i the field of its measurement pattern
        driven as a current (reciprocity): no solve beyond the one factorisation.

        Parameters
        ----------
        sigma : number, mapping or ndarray, shape (n_elements,)
            Conductivity at which to linearise, S/m.
        log_conductivity : bool
            Return dV / d ln(sigma) = sigma * dV / dsigma.
        basis : sparse or ndarray, shape (n_elements, n_params), optional
            Parameter basis P: returns J @ P, built element chunk by element chunk
            so the full (n_rows, n_elements) matrix is never formed.
        chunk_bytes : int
            Memory of the temporaries per element chunk; small chunks stay in
            cache, which is what makes this fast (the work is memory-bound).

        Returns
        -------
        ndarray, shape (n_rows, n_elements) or (n_rows, n_params)
            V per S/m (or V per unit log-conductivity).
        """
        s = self.conductivity(sigma)
        x_inj, x_meas = self._fields(s)
        u = self._to_dofs(x_inj)  # (P, n_dofs)
        w = self._to_dofs(x_meas)  # (Q, n_dofs)
        n_rows, n_elem = self.protocol.n_rows, self.mesh.n_elements
        if basis is not None:
            if basis.shape[0] != n_elem:
                raise FemeitError(f"the parameter basis must have {n_elem} rows (one per element), got {basis.shape}")
            basis = sp.csr_matrix(basis)
            out = np.zeros((n_rows, basis.shape[1]))
        else:
            out = np.empty((n_rows, n_elem))
        scale = s if log_conductivity else None
        n_inj, n_meas, k = len(u), len(w), self._element_dofs.shape[1]
        row_inj, row_meas = self.protocol.row_injection, self._row_meas
        # Contract all (injection, measurement) pairs at once when the protocol
        # uses most of them (adjacent, KTC patterns); else gather per row.
        all_pairs = n_inj * n_meas <= 2 * n_rows
        width = n_inj * n_meas if all_pairs else n_rows
        step = max(1, int(chunk_bytes // (8 * (width + (n_inj + 2 * n_meas) * k))))
        for start in range(0, n_elem, step):
            sl = slice(start, min(start + step, n_elem))
            dofs = self._element_dofs[sl]
            ke = self._element_stiffness[sl]  # (chunk, k, k)
            u_k = [u[:, dofs[:, j]] for j in range(k)]  # k arrays (P, chunk)
            w_k = [w[:, dofs[:, j]] for j in range(k)]  # k arrays (Q, chunk)
            block = None
            for j in range(k):
                kw = sum(ke[:, j, m] * w_k[m] for m in range(k))  # (Q, chunk): (K_e w)_j
                term = (
                    (u_k[j][:, None, :] * kw[None, :, :]).reshape(n_inj * n_meas, -1)
                    if all_pairs
                    else (u_k[j][row_inj] * kw[row_meas])
                )
                block = term if block is None else block + term
            if all_pairs:
                block = block[row_inj * n_meas + row_meas]
            np.negative(block, out=block)
            if scale is not None:
                block *= scale[sl]
            if basis is None:
                out[:, sl] = block
            else:
                out += (basis[sl].T @ block.T).T
        return out

    def with_contact_impedance(self, contact_impedance: float | np.ndarray) -> ForwardModel:
        """A copy with other contact impedances, sharing the mesh precomputation and assembly plan.

        Only the electrode block's values change (its sparsity does not), so the
        copy is cheap enough for calibration loops.
        """
        if self.electrode_model != "cem":
            raise FemeitError("contact impedance applies only to the complete electrode model")
        new = object.__new__(ForwardModel)
        new.__dict__.update(self.__dict__)
        new.contact_impedance = _contact_impedance(contact_impedance, self.mesh.n_electrodes)
        new._electrode_block = new._cem_block(new.contact_impedance)
        coo = new._electrode_block.tocoo()
        new._cache_key, new._cache = None, None
        if np.array_equal(coo.row, self._plan["const_rows"]) and np.array_equal(coo.col, self._plan["const_cols"]):
            new._plan = {**self._plan, "const_data": coo.data}
        else:  # pragma: no cover - the block's pattern does not depend on z
            new._solver_state = {}
            new._plan_assembly()
        return new


def _contact_impedance(value: float | np.ndarray, n_electrodes: int) -> np.ndarray:
    """Contact impedances as an array of one positive value per electrode, or a clear error."""
    arr = np.asarray(value, dtype=float)
    if arr.ndim > 1 or arr.size not in (1, n_electrodes):
        raise FemeitError(f"contact_impedance must be a number or an array of {n_electrodes} values")
    z = np.broadcast_to(arr.ravel() if arr.ndim else arr, (n_electrodes,)).copy()
    if not np.all(np.isfinite(z)) or np.any(z <= 0):
        raise FemeitError(
            "contact_impedance must be positive and finite for the complete electrode model "
            f"(got minimum {np.nanmin(z):.3g}); use electrode_model='shunt' for perfectly conducting electrodes"
        )
    return z
