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

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import skfem

from femeit.errors import FemeitError
from femeit.forward.adjoints import adjoint_combination
from femeit.forward.conditioning import check_conditioning, real_values
from femeit.forward.discretization import ELECTRODE_MODELS, Discretization
from femeit.forward.linsolve import BACKENDS, RefinedSolve, compiled_loops, factorize, transposed_product
from femeit.limits import check_bytes
from femeit.mesh import EITMesh
from femeit.protocol import Protocol


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


@dataclass(frozen=True, init=False, eq=False, repr=False)
class ForwardModel:
    """Voltages and Jacobians of an EIT/ERT sensor for any conductivity.

    Parameters
    ----------
    mesh : EITMesh or Discretization
        The mesh with its electrodes, or a :class:`~femeit.forward.Discretization`
        of it to share (then ``order`` and ``electrode_model`` are the discretisation's).
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
    exact_readings : bool
        With PARDISO (the other backends do not refine, and ignore it): correct
        the readings by an extended-precision residual, and refine the fields,
        so that they are the float64 rounding of the exact solution of the
        assembled matrix (the default).  False leaves that out: a small 3D
        model's forward solve is about a tenth faster (1.25-1.29 instead of
        1.35-1.44 times PARDISO's factorisation and solves on a 377-unknown
        ball, ``benchmarks/floor_ratio.py``), and its readings differ by PARDISO's
        solver error: on the benchmark balls 0.26 to 7.3 times the change
        that the assembled matrix's own rounding makes, but 26 to 35 times on
        a 71,802-tetrahedron CEM cylinder with a smooth conductivity (7e-13
        of the largest reading; ``benchmarks/refinement_value.py``).  Comparisons between
        backends (PARDISO's refined solutions agree with refined SuperLU's to
        3e-16, measured on a 2D CEM tank) want the default.

    Attributes
    ----------
    discretization : Discretization
        Basis, element matrices, electrode blocks and assembly plan (frozen, shareable).
    protocol : Protocol
    contact_impedance : ndarray, shape (L,), or None
        None for the point and shunt models.
    solver : str
    exact_readings : bool

    Notes
    -----
    The model is a frozen dataclass: ``dataclasses.replace(model, contact_impedance=z)``
    (or :meth:`with_contact_impedance`) gives a model on the same discretisation
    with its own, empty factorisation cache; nothing mutable is shared.

    Examples
    --------
    >>> model = ForwardModel(mesh, Protocol.adjacent(16), contact_impedance=0.01)  # doctest: +SKIP
    >>> v = model.simulate(1.0)        # homogeneous 1 S/m, shape (208,)
    >>> J = model.jacobian(1.0)        # shape (208, n_elements)
    """

    discretization: Discretization
    protocol: Protocol
    contact_impedance: np.ndarray | None
    solver: str
    exact_readings: bool

    def __init__(
        self,
        mesh: EITMesh | Discretization | None = None,
        protocol: Protocol | None = None,
        contact_impedance: float | np.ndarray | None = 0.01,
        order: int = 1,
        electrode_model: str = "cem",
        solver: str = "auto",
        *,
        exact_readings: bool = True,
        discretization: Discretization | None = None,
    ) -> None:
        # ``discretization=`` is how dataclasses.replace passes the field back in.
        if discretization is None:
            discretization = mesh if isinstance(mesh, Discretization) else None
        elif mesh is not None:
            raise FemeitError("give either a mesh or discretization=, not both")
        if discretization is None:
            if not isinstance(mesh, EITMesh):
                raise FemeitError(f"mesh must be an EITMesh, got {type(mesh).__name__}")
            if order not in (1, 2):
                raise FemeitError(f"order must be 1 or 2, got {order!r}")
            if electrode_model not in ELECTRODE_MODELS:
                raise FemeitError(f"electrode_model must be one of {ELECTRODE_MODELS}, got {electrode_model!r}")
        if not isinstance(protocol, Protocol):
            raise FemeitError(f"protocol must be a Protocol, got {type(protocol).__name__}")
        n_electrodes = (discretization.mesh if discretization is not None else mesh).n_electrodes
        if protocol.n_electrodes != n_electrodes:
            raise FemeitError(f"the protocol uses {protocol.n_electrodes} electrodes but the mesh has {n_electrodes}")
        if solver not in BACKENDS:
            raise FemeitError(f"unknown linear solver {solver!r}; choose one of {BACKENDS}")
        if not isinstance(exact_readings, (bool, np.bool_)):
            raise FemeitError(f"exact_readings must be True or False, got {exact_readings!r}")
        if discretization is None:
            discretization = Discretization(mesh, order, electrode_model)
        cem = discretization.electrode_model == "cem"
        z = _contact_impedance(contact_impedance, n_electrodes) if cem else None
        put = object.__setattr__  # frozen dataclass: fields are set once, here
        put(self, "discretization", discretization)
        put(self, "protocol", protocol)
        put(self, "contact_impedance", z)
        put(self, "solver", solver)
        put(self, "exact_readings", bool(exact_readings))
        put(self, "_block_data", discretization.block_data(z))
        # Unique measurement patterns: each needs one adjoint field.
        patterns, row_meas = np.unique(protocol.measurements, axis=0, return_inverse=True)
        put(self, "_meas_patterns", patterns)
        put(self, "_row_meas", row_meas.ravel())
        put(self, "_meas_reuse", self._plan_adjoint_reuse())
        # (injection index, scale) per measurement pattern when each is a multiple of an injection.
        reuse = np.array([(p, scale) for _, p, scale in self._meas_reuse]).reshape(-1, 2)
        whole = len(reuse) and (reuse[:, 0] >= 0).all()
        put(self, "_meas_injection", (reuse[:, 0].astype(int), reuse[:, 1]) if whole else None)
        put(self, "_state", _SolverState())
        # The grounded system's rows of the electrode potentials: where current patterns enter.
        rows = discretization.plan.renumber[discretization.electrode_unknowns[1:]]
        rows.flags.writeable = False
        put(self, "_electrode_rows", rows)
        # Otherwise the measurement patterns' adjoint fields as combinations of the injections'
        # fields and at most P extra ones (each solved with the injections; P more would cost as
        # much as refining the fields, the fallback).
        combination = None
        if not whole and len(protocol.injections):
            combination = adjoint_combination(
                protocol.injections[:, 1:], patterns[:, 1:], max_extra=len(protocol.injections)
            )
        put(self, "_adjoint_combination", combination)
        # What the corrected readings gather, made once (see _corrected_readings).
        row_injection, n_patterns = protocol.row_injection, len(protocol.injections)
        if whole:
            injection, scale = self._meas_injection
            put(self, "_correction_index", injection[self._row_meas] * n_patterns + row_injection)
            put(self, "_correction_scale", scale[self._row_meas])
        elif combination is not None:
            # Transposed: (Q, P + d), to multiply the (P + d, P) products of fields and residuals.
            put(self, "_correction_coefficients", np.ascontiguousarray(combination.coefficients.T))
        if whole or combination is not None:
            put(self, "_reading_weights", np.ascontiguousarray(protocol.measurements[:, 1:]))
            # Row i's electrode potentials (electrodes 1..L-1) as flat indices of the (size, P) fields.
            put(self, "_reading_index", rows[None, :] * n_patterns + row_injection[:, None])
            # The same terms less those of zero weight, for the compiled readings (kernels.pair_readings).
            put(self, "_reading_terms", _nonzero_terms(self._reading_index, self._reading_weights))
            put(self, "_each_row", (np.arange(protocol.n_rows), np.ones(protocol.n_rows)))

    def __repr__(self) -> str:
        d = self.discretization
        return (
            f"ForwardModel({d.mesh.dim}D, {d.mesh.n_elements} elements, P{d.order}, {d.electrode_model}, "
            f"{self.protocol.n_rows} rows, solver={self.solver!r}"
            + ("" if self.exact_readings else ", exact_readings=False")
            + ")"
        )

    # ------------------------------------------------------------- views
    @property
    def mesh(self) -> EITMesh:
        """The mesh."""
        return self.discretization.mesh

    @property
    def order(self) -> int:
        """Polynomial degree of the elements."""
        return self.discretization.order

    @property
    def electrode_model(self) -> str:
        """``"cem"``, ``"point"`` or ``"shunt"``."""
        return self.discretization.electrode_model

    @property
    def basis(self) -> skfem.CellBasis:
        """The scikit-fem basis of the potential."""
        return self.discretization.basis

    @property
    def block_data(self) -> np.ndarray:
        """Electrode-block values for this model's z, in the order of ``discretization.plan.block_rows``."""
        return self._block_data

    @property
    def n_dofs(self) -> int:
        """Finite-element degrees of freedom of the potential."""
        return self.discretization.n_dofs

    # ------------------------------------------------------ conductivity
    def conductivity(self, sigma: float | np.ndarray | Mapping[str, float]) -> np.ndarray:
        """Per-element conductivity, S/m, shape (n_elements,), from any accepted form.

        ``sigma`` may be a number (homogeneous), a mapping region name -> value
        (every region of the mesh must be given), or an array of one value per element.
        """
        out = self._conductivity(sigma)
        return out.copy() if out is sigma else out  # the caller's array is never handed back to be changed

    def _conductivity(self, sigma: float | np.ndarray | Mapping[str, float]) -> np.ndarray:
        """:meth:`conductivity`, but a valid float64 array of one value per element is returned itself, not copied."""
        mesh = self.mesh
        if type(sigma) is np.ndarray and sigma.dtype == np.float64 and sigma.shape == (mesh.n_elements,):
            out = sigma  # the common case, in three checks (before the reductions below)
        elif isinstance(sigma, Mapping):
            missing = [r for r in mesh.region_names if r not in sigma]
            unknown = [r for r in sigma if r not in mesh.region_names]
            if missing or unknown:
                raise FemeitError(
                    f"conductivity by region must give every region exactly: missing {missing}, "
                    f"unknown {unknown} (the mesh has {list(mesh.region_names)})"
                )
            values = real_values([sigma[r] for r in mesh.region_names], "conductivity by region")
            out = values[mesh.element_region]
        else:
            arr = real_values(sigma, "conductivity")
            if arr.ndim == 0:
                out = np.full(mesh.n_elements, float(arr))
            elif arr.shape == (mesh.n_elements,):
                out = arr
            else:
                raise FemeitError(
                    f"conductivity must be a number, a region mapping or an array of {mesh.n_elements} "
                    f"values (one per element), got shape {arr.shape}"
                )
        # Two reductions decide the common case: a NaN makes the minimum NaN, an inf the maximum.
        if not out.size:
            return out
        low, high = out.min(), out.max()
        if low > 0 and high < np.inf:
            # Kept for the conditioning check of this very array (compared by identity there).
            self._state.sigma_range = (out, (low, high))
            return out
        if not np.all(np.isfinite(out)):
            raise FemeitError("conductivity contains NaN or infinite values")
        raise FemeitError(f"conductivity must be positive, got minimum {out.min():.3g} S/m")

    def system_matrix(self, sigma: float | np.ndarray | Mapping[str, float]) -> sp.csr_matrix:
        """The grounded SPD system matrix for ``sigma``, shape (n_unknowns - 1, n_unknowns - 1).

        Rows and columns are the unknowns of ``discretization`` (dofs, then electrode
        potentials for the CEM) with electrode 0's potential (the ground) removed:
        unknown ``j`` is row ``discretization.plan.renumber[j]``.
        """
        return self.discretization.system_matrix(self._conductivity(sigma), self._block_data)

    # ----------------------------------------------------------- solving
    def _pattern_rhs(self, patterns: np.ndarray) -> np.ndarray:
        """Right-hand sides of current patterns of shape (n, L), in the grounded system's rows: (size, n)."""
        plan = self.discretization.plan
        rhs = np.zeros((plan.size, len(patterns)))
        # The ground electrode's current leaves through the fixed potential.
        np.add.at(rhs, plan.renumber[self.discretization.electrode_unknowns[1:]], patterns[:, 1:].T)
        return rhs

    def _place(self, y: np.ndarray, n_patterns: int) -> np.ndarray:
        """Grounded-system solutions (size, n) -> fields in the unknown space, (n, n_unknowns)."""
        x = np.zeros((n_patterns, self.discretization.n_unknowns))
        if n_patterns:
            x[:, self.discretization.plan.free] = np.asarray(y).reshape(-1, n_patterns).T
        return x

    def _solve_patterns(self, solve, patterns: np.ndarray) -> np.ndarray:
        """Fields x (unknown space, ground 0) for current patterns of shape (n, L); returns (n, n_unknowns)."""
        rhs = self._pattern_rhs(patterns)
        return self._place(solve(rhs) if len(patterns) else rhs, len(patterns))

    def _factored(self, sigma: np.ndarray) -> dict:
        """The cache of ``sigma``: its factorisation (made here when sigma is new) and what was solved with it.

        The model keeps one (sigma, cache) pair, replaced in one assignment, and
        callers work on the cache returned here: threads sharing a model (Dask's
        threaded workers) each get a consistent cache, never another's half-made one.
        """
        state = self._state
        current = state.current
        # The last conductivity is kept (a copy) and compared whole: cheaper than hashing it
        # (a new one usually differs in its first value already, which is compared first).
        if current is not None and current[0][0] == sigma[0] and np.array_equal(sigma, current[0]):
            return current[1]
        # Release the previous conductivity's factor before making this one: two live
        # factors raised the peak memory of a 1M-tetrahedron model from 2.8 to 3.45 GB.
        state.current = current = None
        system = self.discretization.system_matrix(sigma, self._block_data)  # sigma is checked already
        diagonal = self.discretization.plan.diagonal
        checked, sigma_range = state.sigma_range
        check_conditioning(
            system,
            sigma,
            self.mesh.n_electrodes if self.electrode_model == "cem" else 0,
            system.data[diagonal] if len(diagonal) == system.shape[0] else None,
            sigma_range if checked is sigma else None,
        )
        solve = factorize(
            system,
            self.solver,
            state.solver_state,
            dim=self.mesh.dim,
            order=self.order,
            rhs_rows=self._electrode_rows,
            refine=self.exact_readings,
        )
        cache = {"solve": solve}
        state.current = (np.array(sigma, dtype=float), cache)
        return cache

    def _injection_fields(self, sigma: np.ndarray) -> np.ndarray:
        """Fields of the current patterns, shape (P, n_unknowns); the factorisation is kept for adjoints."""
        cache = self._factored(sigma)
        if "injections" not in cache:
            solve = cache["solve"]
            if isinstance(solve, RefinedSolve):  # refined from the draft that simulate() uses (same numbers)
                rhs, y = self._draft(cache)
                cache["injections"] = self._place(solve.refine(rhs, y), len(rhs.T))
            else:
                rhs = self._injection_rhs()
                cache["injections"] = self._place(solve(rhs) if rhs.size else rhs, rhs.shape[1])
        return cache["injections"]

    def _injection_rhs(self) -> np.ndarray:
        """The current patterns' right-hand sides, (size, P): made once, read-only, in the solvers' column order.

        Made with them: their row-major copy (``state.injection_rhs_c``, for the
        residual of the row-major rounded fields, :meth:`Residual.rounded`) and,
        with extra adjoint patterns (``_adjoint_combination``), the right-hand
        sides of both (``state.draft_rhs``, (size, P + d)).
        """
        state = self._state
        if state.injection_rhs is None:
            rhs = np.asfortranarray(self._pattern_rhs(self.protocol.injections))
            rhs.flags.writeable = False
            state.injection_rhs_c = np.ascontiguousarray(rhs)
            state.injection_rhs_c.flags.writeable = False
            extra = self._adjoint_combination.extra if self._adjoint_combination is not None else ()
            if len(extra):  # the extra patterns enter at the electrodes too (a sparse solve still)
                both = np.asfortranarray(np.hstack([rhs, self._pattern_rhs(np.pad(extra, ((0, 0), (1, 0))))]))
                both.flags.writeable = False
                state.draft_rhs = both
            state.injection_rhs = rhs
        return state.injection_rhs

    def _draft(self, cache: dict) -> tuple[np.ndarray, np.ndarray]:
        """The injections' right-hand sides (size, P) and their unrefined solutions, kept in the cache.

        With extra adjoint patterns (``_adjoint_combination``) they are solved in
        the same call; all unrefined solutions, (size, P + d), are kept as
        ``cache["adjoint_draft"]``.
        """
        if "draft" not in cache:
            state = self._state
            rhs = self._injection_rhs()  # the same for every conductivity
            if state.draft_rhs is None:
                cache["draft"] = (rhs, np.asarray(cache["solve"].unrefined(rhs)).reshape(rhs.shape))
            else:
                x = np.asarray(cache["solve"].unrefined(state.draft_rhs)).reshape(state.draft_rhs.shape)
                cache["adjoint_draft"] = x
                cache["draft"] = (rhs, x[:, : rhs.shape[1]])
        return cache["draft"]

    def _corrected_readings(self, sigma: np.ndarray) -> np.ndarray | None:
        """The readings from unrefined fields plus their adjoint-weighted residual, or None where that does not apply.

        A solve refined once costs a second solve of every pattern; the readings
        need only linear functionals of the fields.  With ``y`` any approximate
        solution of ``A y = b_i`` (here the unrefined one rounded to 24 bits, whose
        residual costs one sparse product: :meth:`~femeit.forward.linsolve.Residual.rounded`)
        and ``r_i = b_i - A y`` its residual to better than float64, the reading
        ``m_k' y_i`` errs by ``w_k' r_i`` exactly, where
        ``w_k = A^-1 m_k`` is the measurement pattern's (adjoint) field: a
        multiple of an injection's field where the measured pairs are driven (the
        adjacent protocol, pyEIT's), else a combination of the injections' fields
        and of at most P extra fields solved with them (``femeit.forward.adjoints``:
        the opposite, dipole-dipole and Schlumberger protocols need 7, 1 and 1 on
        16 electrodes).
        Using the unrefined ``w_k`` leaves an error of the order of the product of
        the two fields' errors (the adjoint error correction of Giles & Suli,
        "Adjoint methods for PDEs: a posteriori error analysis and postprocessing
        by duality", Acta Numerica 11, 2002, sec. 3): the corrected readings match
        the refined ones to float64 rounding at the cost of one residual.
        """
        cache = self._factored(sigma)
        solve = cache["solve"]
        if not isinstance(solve, RefinedSolve) or (self._meas_injection is None and self._adjoint_combination is None):
            return None
        if "readings" in cache:  # the same conductivity again: 0.25 ms of products saved on a small ball
            return cache["readings"].copy()
        _, y = self._draft(cache)
        # The readings of y rounded to 24 bits (y1), corrected by y1's residual: half the sparse
        # products of y's own, and as exact (the error left is the
        # product of the adjoint's error and y1's, each tiny).
        y1, residual = solve.residual.rounded(self._state.injection_rhs_c, y)
        # Row i adds scale[i] * products.flat[index[i]], its reading's correction w_k' r_i.
        if self._meas_injection is not None:
            # For every (measurement pattern, injection) pair in one small product, of which each
            # row takes its pair's entry, scaled.
            products = transposed_product(y, residual)
            index, scale = self._correction_index, self._correction_scale
        else:
            # w_k = [y v] c_k (the injections' and the extra patterns' unrefined fields, combined):
            # w_k' r_i = c_k' ([y v]' r_i), for every pair in two small products.
            fields_residuals = transposed_product(cache.get("adjoint_draft", y), residual)  # (P + d, P)
            # Row i takes c_q' g_p (q, p its patterns): the (Q, P) product when most pairs are read.
            products = _row_products(
                self._correction_coefficients, fields_residuals.T, self._row_meas, self.protocol.row_injection
            )[:, None]
            index, scale = self._each_row  # row i's own entry, times 1 (exact)
        kernels = compiled_loops()
        if kernels is not None:  # the readings and their correction in one compiled pass
            readings = kernels.pair_readings(y1, *self._reading_terms, products, index, scale)
        else:  # each row's electrode potentials in one gather (electrode 0, the ground, is left out)
            readings = np.einsum("ij,ij->i", self._reading_weights, y1.take(self._reading_index))
            readings += products.take(index) * scale
        cache["readings"] = readings
        return readings.copy()

    def _fields(self, sigma: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Fields of the current patterns (P, n_unknowns) and of the measurement patterns (Q, n_unknowns).

        A measurement pattern driven as a current gives the adjoint field.  When
        it is a multiple of a current pattern (adjacent protocol: every measured pair is driven)
        the field is that pattern's field rescaled; the others are solved with
        the factorisation already made for ``sigma``.
        """
        x_inj = self._injection_fields(sigma)
        cache = self._factored(sigma)
        if "measurements" not in cache:
            x_meas = np.empty((len(self._meas_patterns), self.discretization.n_unknowns))
            missing = []
            for q, p, scale in self._meas_reuse:
                if p >= 0:
                    x_meas[q] = scale * x_inj[p]
                else:
                    missing.append(q)
            if missing:
                x_meas[missing] = self._solve_patterns(cache["solve"], self._meas_patterns[missing])
            cache["measurements"] = x_meas
        return x_inj, cache["measurements"]

    def _plan_adjoint_reuse(self) -> list[tuple[int, int, float]]:
        """For each measurement pattern q: (q, injection p or -1, scale) with pattern_q = scale * injection_p.

        The scale may be negative: pyEIT-style protocols measure V_N - V_M against
        the drive's A -> B, the opposite orientation of the same pattern.
        """

        def direction(v: np.ndarray) -> tuple[bytes, float]:
            # Unit vector with its first non-zero entry positive, and the signed norm.
            norm = np.linalg.norm(v) * np.sign(v[np.flatnonzero(v)[0]])
            return (np.round(v / norm, 12) + 0.0).tobytes(), norm  # + 0.0: -0.0 and 0.0 alike

        lookup: dict[bytes, tuple[int, float]] = {}
        for p, pattern in enumerate(self.protocol.injections):
            if pattern.any():
                key, norm = direction(pattern)
                lookup.setdefault(key, (p, norm))
        out = []
        for q, pattern in enumerate(self._meas_patterns):
            p, scale = -1, 0.0
            if pattern.any():
                key, norm = direction(pattern)
                if key in lookup:
                    p, norm_p = lookup[key]
                    scale = norm / norm_p
            out.append((q, p, scale))
        return out

    def _to_dofs(self, x: np.ndarray) -> np.ndarray:
        """Unknowns -> finite-element coefficients, shape (n_patterns, n_dofs)."""
        return x[:, self.discretization.dof_to_unknown]

    def fields(self, sigma: float | np.ndarray | Mapping[str, float]) -> Fields:
        """Fields of every current pattern and of every measurement pattern driven as a current (adjoint fields).

        Returns
        -------
        Fields
            In the unknown space of ``discretization`` (ground potential 0, no shift).
        """
        s = self._conductivity(sigma)
        x_inj, x_meas = self._fields(s)
        return Fields(x_inj, x_meas, self._row_meas)

    def jvec(
        self,
        sigma: float | np.ndarray | Mapping[str, float],
        v: np.ndarray,
        *,
        log_conductivity: bool = False,
        basis: sp.spmatrix | np.ndarray | None = None,
    ) -> np.ndarray:
        """The Jacobian times a vector, ``J @ v``, without forming J.

        ``(J v)_i = -u_i' K(v) w_i`` with ``K(v) = sum_e v_e K_e`` the stiffness
        matrix of the conductivity ``v``, ``u_i`` and ``w_i`` the current and
        measurement fields of row ``i`` (as in :meth:`jacobian`).  Memory is
        O(n_patterns * n_dofs), never O(n_rows * n_elements).

        Parameters
        ----------
        sigma : number, mapping or ndarray, shape (n_elements,)
            Conductivity at which to linearise, S/m.
        v : ndarray, shape (n_elements,) or (n_params,)
            Direction, S/m (or per unit log-conductivity, or in parameter space with ``basis``).
        log_conductivity : bool
            Use dV / d ln(sigma).
        basis : sparse or ndarray, shape (n_elements, n_params), optional
            Parameter basis P: returns ``J @ P @ v``.

        Returns
        -------
        ndarray, shape (n_rows,)
        """
        s = self._conductivity(sigma)
        d = self._element_direction(s, v, log_conductivity, basis)
        x_inj, x_meas = self._fields(s)
        # K(v) assembled as the grounded system is, with no electrode terms (they do not depend
        # on sigma): the fields are 0 at the ground, so its row and column drop out of u' K(v) w,
        # and the shunt's and CEM's electrode unknowns carry what the stiffness puts on them.
        # One assembly plan serves both (a dof-space one cost 2 s and 0.3 GB more on 1M tetrahedra).
        discretization = self.discretization
        free = discretization.plan.free
        k_v = discretization.system_matrix(d, np.zeros_like(self._block_data))
        uk = np.asarray(k_v @ np.ascontiguousarray(x_inj[:, free].T)).T  # (P, size): (K(v) u_p)'
        return -_row_products(uk, x_meas[:, free], self.protocol.row_injection, self._row_meas)

    def jtvec(
        self,
        sigma: float | np.ndarray | Mapping[str, float],
        y: np.ndarray,
        *,
        log_conductivity: bool = False,
        basis: sp.spmatrix | np.ndarray | None = None,
    ) -> np.ndarray:
        """The transposed Jacobian times a vector, ``J' @ y``, without forming J.

        ``(J' y)_e = -sum_i y_i u_i' K_e w_i``, computed as ``-<K_e, sum_p u_p (Y W)_p'>``
        restricted to element e, with ``Y[p, q]`` the sum of ``y_i`` over the rows
        of current pattern p and measurement pattern q.

        Parameters
        ----------
        sigma : number, mapping or ndarray, shape (n_elements,)
            Conductivity at which to linearise, S/m.
        y : ndarray, shape (n_rows,)
            Data-space vector, V.
        log_conductivity, basis
            As in :meth:`jvec`.

        Returns
        -------
        ndarray, shape (n_elements,) or (n_params,)
        """
        s = self._conductivity(sigma)
        y = np.asarray(y, dtype=float)
        if y.shape != (self.protocol.n_rows,):
            raise FemeitError(f"y must have one value per protocol row, shape ({self.protocol.n_rows},), got {y.shape}")
        u, w = self._dof_fields(s)
        yy = sp.csr_matrix((y, (self.protocol.row_injection, self._row_meas)), shape=(len(u), len(w)))
        yw = np.asarray(yy @ w)  # (P, n_dofs)
        dofs, ke = self.discretization.element_dofs, self.discretization.element_stiffness
        # Element chunks of about 2^21 numbers per temporary; each element's fields are
        # gathered as k rows of the transposed arrays (P contiguous numbers per dof), not as
        # k * k strided gathers across whole (P, n_elements) arrays (measured 2x faster, KGPSR cylinder).
        ut, ywt = np.ascontiguousarray(u.T), np.ascontiguousarray(yw.T)  # (n_dofs, P)
        out = np.empty(len(dofs))
        step = max(1, 2**21 // (dofs.shape[1] * len(u)))
        for start in range(0, len(dofs), step):
            sl = slice(start, start + step)
            k_yw = np.matmul(ke[sl], ywt[dofs[sl]])  # (chunk, k, P): K_e (Y W)_p, element by element
            out[sl] = -np.einsum("eap,eap->e", ut[dofs[sl]], k_yw)
        if log_conductivity:
            out *= s
        if basis is not None:
            out = np.asarray(sp.csr_matrix(basis).T @ out).ravel()
        return out

    def _element_direction(self, s: np.ndarray, v: np.ndarray, log_conductivity: bool, basis) -> np.ndarray:
        n_elem = self.mesh.n_elements
        v = np.asarray(v, dtype=float)
        if basis is not None:
            if basis.shape[0] != n_elem or v.shape != (basis.shape[1],):
                raise FemeitError(
                    f"with a basis of shape {basis.shape}, v must have {basis.shape[1]} values, got {v.shape}"
                )
            v = np.asarray(sp.csr_matrix(basis) @ v).ravel()
        elif v.shape != (n_elem,):
            raise FemeitError(f"v must have one value per element, shape ({n_elem},), got {v.shape}")
        return v * s if log_conductivity else v

    def _dof_fields(self, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x_inj, x_meas = self._fields(s)
        return self._to_dofs(x_inj), self._to_dofs(x_meas)

    def solve(self, sigma: float | np.ndarray | Mapping[str, float]) -> Solution:
        """Fields and readings for ``sigma`` (see :class:`Solution`)."""
        s = self._conductivity(sigma)
        x_inj = self._injection_fields(s)
        u_el = x_inj[:, self.discretization.electrode_unknowns]
        shift = u_el.mean(axis=1, keepdims=True)
        return Solution(u_el - shift, self._to_dofs(x_inj) - shift, self._readings(x_inj))

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
        integrals = np.column_stack([solution.potentials @ b for b in self.discretization.electrode_load])
        return (self.discretization.electrode_size * solution.electrode_potentials - integrals) / self.contact_impedance

    def simulate(self, sigma: float | np.ndarray | Mapping[str, float]) -> np.ndarray:
        """The protocol's readings for conductivity ``sigma``, V, shape (n_rows,).

        Where the backend refines its solves (PARDISO) and the measurement
        patterns' fields come from the injections' fields and at most P extra
        ones, the readings come from the unrefined fields corrected by their
        adjoint-weighted residual (see ``_corrected_readings``): as accurate as
        the refined fields' readings, cheaper than refining.  The fields are
        refined if they are asked for later.  With ``exact_readings=False``
        the readings are those of MKL's solve alone.
        """
        s = self._conductivity(sigma)
        readings = self._corrected_readings(s)
        return self._readings(self._injection_fields(s)) if readings is None else readings

    def _readings(self, x_inj: np.ndarray) -> np.ndarray:
        """The protocol's readings from the current patterns' fields (P, n_unknowns), shape (n_rows,)."""
        u_el = x_inj[:, self.discretization.electrode_unknowns]
        return np.einsum("ij,ij->i", self.protocol.measurements, u_el[self.protocol.row_injection])

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
        s = self._conductivity(sigma)
        x_inj, x_meas = self._fields(s)
        u = self._to_dofs(x_inj)  # (P, n_dofs)
        w = self._to_dofs(x_meas)  # (Q, n_dofs)
        n_rows, n_elem = self.protocol.n_rows, self.mesh.n_elements
        if basis is not None:
            if not hasattr(basis, "shape") or len(basis.shape) != 2:
                raise FemeitError(
                    f"the parameter basis must be a 2-D (n_elements, n_params) matrix, got shape {np.shape(basis)}"
                )
            if basis.shape[0] != n_elem:
                raise FemeitError(f"the parameter basis must have {n_elem} rows (one per element), got {basis.shape}")
            basis = sp.csr_matrix(basis)
            check_bytes(8.0 * n_rows * basis.shape[1], f"the {n_rows} x {basis.shape[1]} Jacobian")
            out = np.zeros((n_rows, basis.shape[1]))
        else:
            check_bytes(8.0 * n_rows * n_elem, f"the {n_rows} x {n_elem} Jacobian")
            out = np.empty((n_rows, n_elem))
        scale = s if log_conductivity else None
        n_inj, n_meas, k = len(u), len(w), self.discretization.element_dofs.shape[1]
        row_inj, row_meas = self.protocol.row_injection, self._row_meas
        # Contract all (injection, measurement) pairs at once when the protocol
        # uses most of them (adjacent, KTC patterns); else gather per row.
        all_pairs = n_inj * n_meas <= 2 * n_rows
        width = n_inj * n_meas if all_pairs else n_rows
        step = max(1, int(chunk_bytes // (8 * (width + (n_inj + 2 * n_meas) * k))))
        for start in range(0, n_elem, step):
            sl = slice(start, min(start + step, n_elem))
            dofs = self.discretization.element_dofs[sl]
            ke = self.discretization.element_stiffness[sl]  # (chunk, k, k)
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
        """A model with other contact impedances on the same discretisation: ``dataclasses.replace``.

        Only the electrode block's values change (its sparsity does not), so the
        copy is cheap enough for calibration loops; it starts with its own empty
        factorisation cache.
        """
        if self.electrode_model != "cem":
            raise FemeitError("contact impedance applies only to the complete electrode model")
        return dataclasses.replace(self, contact_impedance=contact_impedance)


@dataclass(frozen=True, eq=False)
class Fields:
    """Fields of one conductivity in the unknown space of a :class:`~femeit.forward.Discretization`.

    Attributes
    ----------
    injections : ndarray, shape (n_injections, n_unknowns)
        Field of each current pattern (ground potential 0).
    measurements : ndarray, shape (n_measurement_patterns, n_unknowns)
        Field of each distinct measurement pattern driven as a current (the adjoint field).
    row_measurement : ndarray of int, shape (n_rows,)
        The measurement pattern of each protocol row.
    """

    injections: np.ndarray
    measurements: np.ndarray
    row_measurement: np.ndarray


class _SolverState:
    """One model's mutable cache: the last factorisation, its fields, reusable solver analysis."""

    def __init__(self) -> None:
        self.current: tuple[np.ndarray, dict] | None = None  # (sigma, its cache)
        self.injection_rhs: np.ndarray | None = None  # Fortran-ordered, as PARDISO reads it
        self.injection_rhs_c: np.ndarray | None = None  # the same, row-major
        self.draft_rhs: np.ndarray | None = None  # injections and extra adjoint patterns, when there are extra ones
        # The last conductivity array _conductivity accepted and its (min, max): read by identity.
        self.sigma_range: tuple[np.ndarray | None, tuple[float, float] | None] = (None, None)
        self.solver_state: dict = {}


def _row_products(a: np.ndarray, b: np.ndarray, row_a: np.ndarray, row_b: np.ndarray) -> np.ndarray:
    """``out[i] = a[row_a[i]] . b[row_b[i]]``, through the small (P, Q) product when most pairs are used."""
    if len(a) * len(b) <= 2 * len(row_a):
        return (a @ b.T)[row_a, row_b]
    out = np.empty(len(row_a))
    step = max(1, int(2**22 // max(1, a.shape[1])))
    for start in range(0, len(row_a), step):
        sl = slice(start, start + step)
        out[sl] = np.einsum("ij,ij->i", a[row_a[sl]], b[row_b[sl]])
    return out


def _nonzero_terms(index: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row's terms of non-zero weight, in column order, padded with zero weights: (index, weights), (n, m).

    ``m`` is the most non-zero terms of a row (at least 1); the padding's
    index is the row's first (any valid index: its weight is 0).
    """
    nonzero = weights != 0
    width = max(int(nonzero.sum(axis=1).max(initial=0)), 1)
    # Stable: the non-zero columns first, in their order.
    order = np.argsort(~nonzero, axis=1, kind="stable")[:, :width]
    kept = np.take_along_axis(nonzero, order, axis=1)
    terms = np.take_along_axis(index, order, axis=1)
    terms[~kept] = index[:, :1].repeat(width, axis=1)[~kept] if index.shape[1] else 0
    values = np.where(kept, np.take_along_axis(weights, order, axis=1), 0.0)
    terms, values = np.ascontiguousarray(terms, dtype=np.int64), np.ascontiguousarray(values)
    terms.flags.writeable = values.flags.writeable = False
    return terms, values


def _contact_impedance(value: float | np.ndarray, n_electrodes: int) -> np.ndarray:
    """Contact impedances as an array of one positive value per electrode, or a clear error."""
    arr = real_values(value, "contact_impedance")
    if arr.ndim > 1 or arr.size not in (1, n_electrodes):
        raise FemeitError(f"contact_impedance must be a number or an array of {n_electrodes} values")
    z = np.broadcast_to(arr.ravel() if arr.ndim else arr, (n_electrodes,)).copy()
    if not np.all(np.isfinite(z)) or np.any(z <= 0):
        raise FemeitError(
            "contact_impedance must be positive and finite for the complete electrode model "
            f"(got minimum {np.nanmin(z):.3g}); use electrode_model='shunt' for perfectly conducting electrodes"
        )
    return z
