"""2.5D forward model: point electrodes over a 2D conductivity sigma(x, z).

A point current I at the surface of a ground that does not vary along the
strike direction y gives a potential U(x, y, z) that is even in y.  Its
Fourier-cosine transform U~(x, k, z) = int_0^inf U cos(k y) dy satisfies, for
each wavenumber k, the 2D equation (Dey & Morrison 1979, "Resistivity
modelling for arbitrarily shaped two-dimensional structures", Geophysical
Prospecting 27, 106-136)::

    -div(sigma grad U~) + k^2 sigma U~ = (I / 2) delta(x - x_s) delta(z - z_s)

(the 1/2 is the cosine transform of delta(y) over y >= 0), and the potential
on the profile plane y = 0 is recovered by the inverse transform::

    U(x, 0, z) = (2 / pi) int_0^inf U~(x, k, z) dk  ~=  (2 / pi) sum_j w_j U~(x, k_j, z)

For homogeneous ground U~ = I K0(k r) / (2 pi sigma) and the integral gives
I / (2 pi sigma r) exactly.

Wavenumbers.  We choose the nodes and weights so that the rule integrates
that homogeneous kernel, (2 / pi) int_0^inf K0(k r) dk = 1 / r, to a stated
accuracy for every electrode distance r in [r_min, r_max] (the choice of
Xu, Duan & Zhang 2000, Geophysical Prospecting 48, 789-796, to tune the
rule to the survey's distances, without their optimisation).  Two rules:

- ``"trapezoid"`` (default): the trapezoidal rule in u = ln k over
  [ln(1e-5 / r_max), ln(30 / r_min)] with step 0.8, so w_j = 0.8 k_j.  The
  integrand k K0(k r) is analytic in the strip |Im u| < pi / 2, where the
  trapezoidal rule converges exponentially (Trefethen & Weideman 2014, SIAM
  Review 56, 385-458, section 5); measured error <= 6e-5 over r_max / r_min
  = 100 with 25 nodes.
- ``"gauss"``: the split used by Kemna (2000, *Tomographic inversion of
  complex resistivity*, PhD thesis, Ruhr-Universität Bochum) and BERT:
  Gauss-Legendre on [0, k0] after k = k0 t^2 (which smooths the logarithmic
  singularity of K0 at k = 0) and Gauss-Laguerre on [k0, inf) with
  k = k0 + s / (2 r_min), k0 = 1 / (2 r_min); 16 + 6 nodes by default
  (measured error <= 5e-4 over r_max / r_min = 100).

The test suite measures both rules against 1 / r.

Discretisation.  P1 or P2 Lagrange elements on a triangle mesh (scikit-fem
assembly of element matrices once; a conductivity costs a sum of
element-weighted matrices).  The sources are nodal loads of I / 2 at the
electrode nodes.  On the artificial boundary (sides and bottom) we impose the
mixed condition of Dey & Morrison (1979), exact for homogeneous
ground::

    sigma dU~/dn + sigma k K1(k r) / K0(k r) cos(theta) U~ = 0

with r the distance from the source and theta the angle between r and the
outward normal.  To factor each wavenumber's matrix once for all sources we
measure r from the middle of the electrode spread (``HalfPlaneMesh.centre``),
which is exact in the limit of a far boundary; with the default extent of 5
profile lengths the remaining error is below the figures quoted in the tests.
Each k is factored once (:func:`femeit.forward.linsolve.factorize`) and solved
for every electrode as a unit source at once; the result is the electrodes'
transfer-resistance matrix G (potential at electrode i for 1 A at j), from
which any protocol's readings follow by two matrix products.  An electrode at
infinity (the remote electrode of :mod:`femeit.ert.arrays`) has no source and
zero potential.  G's diagonal (the potential at a current electrode) is
infinite in reality; readings that use it are refused.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp
import skfem
from scipy.special import k0e, k1e

from femeit.errors import FemeitError
from femeit.ert.geometric import numeric_geometric_factor
from femeit.ert.mesh25d import HalfPlaneMesh
from femeit.forward.linsolve import factorize
from femeit.protocol import Protocol

__all__ = ["Forward25D", "readings", "wavenumbers"]


def wavenumbers(
    r_min: float, r_max: float, method: str = "trapezoid", n: tuple[int, int] = (16, 6)
) -> tuple[np.ndarray, np.ndarray]:
    """Wavenumbers and weights for the inverse cosine transform (module docstring).

    Parameters
    ----------
    r_min, r_max : float
        Smallest and largest source-receiver distance to serve, m.
    method : {"trapezoid", "gauss"}
    n : (int, int)
        Gauss-Legendre and Gauss-Laguerre node counts (``"gauss"`` only).

    Returns
    -------
    k : ndarray, shape (n_k,)
        Wavenumbers, 1/m.
    w : ndarray, shape (n_k,)
        Weights: int_0^inf f(k) dk ~= sum w_j f(k_j).
    """
    if not (0 < r_min <= r_max and np.isfinite(r_max)):
        raise FemeitError(f"need 0 < r_min <= r_max, got r_min={r_min!r}, r_max={r_max!r}")
    if method == "trapezoid":
        step = 0.8
        u = np.arange(np.log(1e-5 / r_max), np.log(30.0 / r_min) + step / 2, step)
        k = np.exp(u)
        return k, step * k
    if method == "gauss":
        n_leg, n_lag = (int(v) for v in n)
        if n_leg < 1 or n_lag < 1:
            raise FemeitError(f"node counts must be positive, got {n!r}")
        k0 = 1.0 / (2.0 * r_min)
        t, wt = np.polynomial.legendre.leggauss(n_leg)
        t, wt = (t + 1) / 2, wt / 2
        s, ws = np.polynomial.laguerre.laggauss(n_lag)
        scale = 2.0 * r_min
        k = np.concatenate([k0 * t**2, k0 + s / scale])
        w = np.concatenate([wt * 2 * k0 * t, ws * np.exp(s) / scale])
        return k, w
    raise FemeitError(f"unknown wavenumber rule {method!r}; choose 'trapezoid' or 'gauss'")


_ELEMENTS = {1: skfem.ElementTriP1, 2: skfem.ElementTriP2}


@skfem.BilinearForm
def _robin(u, v, w):
    # sigma k K1(kr)/K0(kr) cos(theta) u v on the artificial boundary; K1/K0 from the scaled Bessel functions.
    dx, dz = w.x[0] - w.c0, w.x[1] - w.c1
    r = np.sqrt(dx**2 + dz**2)
    cos = (dx * w.n[0] + dz * w.n[1]) / r
    kr = w.k * r
    return u * v * (w.sig * w.k * k1e(kr) / k0e(kr) * cos)


class Forward25D:
    """2.5D resistivity forward model on a :class:`~femeit.ert.mesh25d.HalfPlaneMesh`.

    Parameters
    ----------
    mesh : HalfPlaneMesh
    order : {1, 2}
        Lagrange element order.
    k : ndarray, shape (n_k,), optional
        Wavenumbers, 1/m; default from :func:`wavenumbers` over the electrodes'
        smallest and largest separation.
    w : ndarray, shape (n_k,), optional
        Their weights (given together with ``k``).
    method : str
        Wavenumber rule when ``k`` is not given.
    backend : str
        Sparse solver (see :func:`femeit.forward.linsolve.factorize`).
    boundary : {"mixed", "neumann"}
        Condition on the artificial boundary: the mixed condition of Dey &
        Morrison (default) or insulating (needs a larger domain: with the
        domain 2 profile lengths out, 0.4-0.5 % error on apparent
        resistivity against 0.07-0.08 % with the mixed condition).
    """

    def __init__(
        self,
        mesh: HalfPlaneMesh,
        order: int = 2,
        k: np.ndarray | None = None,
        w: np.ndarray | None = None,
        method: str = "trapezoid",
        backend: str = "auto",
        boundary: str = "mixed",
    ) -> None:
        if order not in _ELEMENTS:
            raise FemeitError(f"order must be 1 or 2, got {order!r}")
        if boundary not in ("mixed", "neumann"):
            raise FemeitError(f"boundary must be 'mixed' or 'neumann', got {boundary!r}")
        self.boundary = boundary
        self.mesh = mesh
        self.order = order
        e = mesh.electrodes
        if (k is None) != (w is None):
            raise FemeitError("give both wavenumbers k and weights w, or neither")
        if k is None:
            d = np.linalg.norm(e[:, None, :] - e[None, :, :], axis=2)
            off = d[~np.eye(len(e), dtype=bool)]
            k, w = wavenumbers(off.min(), off.max(), method)
        self.k = np.asarray(k, dtype=float)
        self.w = np.asarray(w, dtype=float)
        if self.k.shape != self.w.shape or self.k.ndim != 1 or np.any(self.k <= 0):
            raise FemeitError("wavenumbers must be positive and match their weights in shape")
        self.backend = backend
        m = mesh.mesh
        basis = skfem.CellBasis(m, _ELEMENTS[order](), intorder=2 * order)
        self.basis = basis
        grads = np.stack([basis.basis[i][0].grad for i in range(basis.Nbfun)])  # (nb, 2, n_elem, n_qp)
        vals = np.stack([np.asarray(basis.basis[i][0]) for i in range(basis.Nbfun)])  # (nb, n_elem, n_qp)
        self._ke = np.einsum("ideq,jdeq,eq->eij", grads, grads, basis.dx, optimize=True).reshape(m.t.shape[1], -1)
        self._me = np.einsum("ieq,jeq,eq->eij", vals, vals, basis.dx, optimize=True).reshape(m.t.shape[1], -1)
        dofs = basis.element_dofs.T
        nb = dofs.shape[1]
        self._rows = np.repeat(dofs, nb, axis=1).ravel()
        self._cols = np.tile(dofs, (1, nb)).ravel()
        self._far = skfem.FacetBasis(m, _ELEMENTS[order](), facets=mesh.far_facets, intorder=2 * order + 2)
        # The element behind each far facet, for its conductivity.
        self._far_elements = m.f2t[0, mesh.far_facets]
        # Electrode nodes are mesh vertices, whose dof is the vertex dof (value 1 there, 0 at other nodes).
        self._source_dofs = basis.nodal_dofs[0, mesh.electrode_nodes]

    @property
    def n_electrodes(self) -> int:
        """Number of electrodes in the mesh."""
        return len(self.mesh.electrode_nodes)

    def conductivity(self, sigma: float | np.ndarray | Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        """Element conductivities, S/m, from a number, an array (n_elements,) or a function of centroids (n, 2)."""
        n = self.mesh.n_elements
        if callable(sigma):
            sigma = sigma(self.mesh.centroids())
        s = np.broadcast_to(np.asarray(sigma, dtype=float), (n,)) if np.ndim(sigma) == 0 else np.asarray(sigma, float)
        if s.shape != (n,):
            raise FemeitError(f"conductivity must have one value per element ({n}), got shape {s.shape}")
        if not np.all(np.isfinite(s)) or np.any(s <= 0):
            raise FemeitError("conductivity must be positive and finite")
        return np.array(s)

    def _matrices(self, sigma: np.ndarray) -> tuple[sp.csr_matrix, sp.csr_matrix]:
        N = self.basis.N
        stiff = sp.coo_matrix(((self._ke * sigma[:, None]).ravel(), (self._rows, self._cols)), shape=(N, N)).tocsr()
        mass = sp.coo_matrix(((self._me * sigma[:, None]).ravel(), (self._rows, self._cols)), shape=(N, N)).tocsr()
        return stiff, mass

    def _robin(self, sigma: np.ndarray, k: float) -> sp.csr_matrix:
        fb = self._far
        nq = fb.X.shape[1]
        sig = np.repeat(sigma[self._far_elements][:, None], nq, axis=1)
        c = self.mesh.centre
        return skfem.asm(_robin, fb, sig=sig, k=k, c0=c[0], c1=c[1]).tocsr()

    def _solve(self, sigma: np.ndarray, keep: np.ndarray | None) -> np.ndarray:
        """(2/pi) sum_j w_j U~(k_j) for a unit source at each electrode, at the dofs ``keep`` (None: all)."""
        stiff, mass = self._matrices(sigma)
        L = self.n_electrodes
        rhs = np.zeros((self.basis.N, L))
        rhs[self._source_dofs, np.arange(L)] = 0.5
        total = np.zeros((self.basis.N if keep is None else len(keep), L))
        for kj, wj in zip(self.k, self.w, strict=True):
            a = stiff + kj**2 * mass
            if self.boundary == "mixed":
                a = a + self._robin(sigma, kj)
            u = factorize(a, self.backend, dim=2, order=self.order)(rhs)
            total += wj * (u if keep is None else u[keep])
        return total * (2.0 / np.pi)

    def transfer_matrix(self, sigma: float | np.ndarray | Callable) -> np.ndarray:
        """Potentials at every electrode for 1 A into each electrode (and out at infinity).

        Parameters
        ----------
        sigma : float, ndarray (n_elements,) or callable
            Conductivity, S/m (see :meth:`conductivity`).

        Returns
        -------
        ndarray, shape (L, L)
            G[i, j]: potential (V) at electrode i for a unit current at
            electrode j.  The diagonal is the discrete value at the source
            node, which has no physical meaning.
        """
        return self._solve(self.conductivity(sigma), self._source_dofs)

    def potentials(self, sigma: float | np.ndarray | Callable, injections: np.ndarray) -> np.ndarray:
        """Potential on the profile plane y = 0 at every dof, for each current pattern.

        Parameters
        ----------
        sigma : float, ndarray (n_elements,) or callable
        injections : ndarray, shape (n_patterns, L) or (n_patterns, L + 1)
            Current per electrode, A (a column L is the remote electrode, which adds no source).

        Returns
        -------
        ndarray, shape (n_patterns, n_dofs)
            V; for P1 the dofs are the mesh nodes, for P2 the nodes then the edge midpoints
            (``self.basis.doflocs`` gives their positions).
        """
        inj = np.atleast_2d(np.asarray(injections, dtype=float))
        L = self.n_electrodes
        if inj.shape[1] not in (L, L + 1):
            raise FemeitError(f"injections must have {L} (or {L + 1}) columns, got shape {inj.shape}")
        fields = self._solve(self.conductivity(sigma), None)  # (n_dofs, L)
        return inj[:, :L] @ fields.T

    def geometric_factors(self, protocol: Protocol) -> np.ndarray:
        """Numeric geometric factors of this model's geometry (topography included), m.

        K = 1 / R for homogeneous ground of 1 ohm m; see
        :func:`femeit.ert.geometric.numeric_geometric_factor`.
        """
        return numeric_geometric_factor(self.transfer_resistances(1.0, protocol))

    def transfer_resistances(self, sigma: float | np.ndarray | Callable, protocol: Protocol) -> np.ndarray:
        """Readings of a protocol, V (ohm at 1 A).

        Parameters
        ----------
        sigma : float, ndarray (n_elements,) or callable
        protocol : Protocol
            On the mesh's L electrodes, or L + 1 with the remote electrode L at infinity.

        Returns
        -------
        ndarray, shape (n_rows,)
        """
        check_protocol(protocol, self.n_electrodes)
        return readings(self.transfer_matrix(sigma), protocol)


def check_protocol(protocol: Protocol, L: int) -> None:
    """Refuse a protocol that does not fit L point electrodes (plus a remote one) or reads a current electrode."""
    if protocol.n_electrodes not in (L, L + 1):
        raise FemeitError(
            f"the protocol has {protocol.n_electrodes} electrodes; the model {L} (or {L + 1} with a remote one)"
        )
    both = (np.abs(protocol.injections[protocol.row_injection, :L]) > 0) & (np.abs(protocol.measurements[:, :L]) > 0)
    if np.any(both):
        row = int(np.flatnonzero(both.any(axis=1))[0])
        raise FemeitError(f"row {row} reads the potential of a current electrode, which a point source makes infinite")


def readings(green: np.ndarray, protocol: Protocol) -> np.ndarray:
    """A protocol's readings from an electrode transfer matrix: sum over M, N, A, B of weights times G.

    Parameters
    ----------
    green : ndarray, shape (L, L)
        G[i, j], potential at electrode i for 1 A at electrode j, V/A.
    protocol : Protocol
        On L electrodes, or L + 1 with the remote electrode L at infinity (no source, zero potential).

    Returns
    -------
    ndarray, shape (n_rows,)
        V at the protocol's currents.
    """
    L = len(green)
    check_protocol(protocol, L)
    inj = protocol.injections[:, :L]
    meas = protocol.measurements[:, :L]
    g = np.where(np.eye(L, dtype=bool), 0.0, green)
    return np.einsum("rl,rl->r", meas, (inj @ g.T)[protocol.row_injection])
