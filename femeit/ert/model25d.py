"""A 2.5D ERT model bound to a protocol: readings and their Jacobian (for Gauss-Newton imaging).

For each wavenumber k_j the 2.5D system ``A(k) = sum_e sigma_e A_e(k)`` is
linear in the element conductivities (stiffness + k^2 mass, plus the mixed
boundary term on the far boundary, also proportional to the conductivity of
the element behind each facet).  With phi_i(k) = A(k)^-1 (e_i / 2) the
field of a unit source at electrode i, the transfer resistance
G_ij = (2 / pi) sum_k w_k phi_j(k)_i, so by the adjoint method::

    dG_ij / dsigma_e = -(4 / pi) sum_k w_k phi_i(k)' A_e(k) phi_j(k)

(Kemna 2000, *Tomographic inversion of complex resistivity*, PhD thesis,
Ruhr-Universität Bochum, eq. 3.40-3.43, for the same cosine transform),
and a reading's derivative is that of its (A, B, M, N) combination: u_p'
A_e w_q with u_p, w_q the current and potential patterns' fields.  Every
wavenumber is factored once per conductivity and its fields serve both the
readings and the Jacobian (cached for the last conductivity).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.special import k0e, k1e

from femeit.errors import FemeitError
from femeit.ert.forward25d import Forward25D, check_protocol
from femeit.forward.linsolve import factorize
from femeit.limits import check_bytes
from femeit.protocol import Protocol

__all__ = ["ERTModel"]


class ERTModel:
    """Readings of one protocol on a :class:`~femeit.ert.forward25d.Forward25D`, with their Jacobian.

    Duck-compatible with :class:`femeit.forward.ForwardModel` for
    :func:`femeit.inverse.gauss_newton.invert_model`: ``mesh``,
    ``simulate(sigma)`` and ``jacobian(sigma, log_conductivity=...)``.

    Parameters
    ----------
    forward : Forward25D
    protocol : Protocol
        On the forward model's L electrodes (or L + 1 with the remote one).
    """

    def __init__(self, forward: Forward25D, protocol: Protocol) -> None:
        if not isinstance(forward, Forward25D):
            raise FemeitError(f"forward must be a Forward25D, got {type(forward).__name__}")
        if not isinstance(protocol, Protocol):
            raise FemeitError(f"protocol must be a Protocol, got {type(protocol).__name__}")
        L = forward.n_electrodes
        check_protocol(protocol, L)
        self.forward = forward
        self.protocol = protocol
        inj = protocol.injections[:, :L]
        meas = protocol.measurements[:, :L]
        self._inj = inj
        self._row_inj = protocol.row_injection
        self._meas, row_meas = np.unique(meas, axis=0, return_inverse=True)
        self._row_meas = row_meas.ravel()
        self._key: bytes | None = None
        self._kfields: list[np.ndarray] = []
        self._green: np.ndarray | None = None
        # Far-facet matrices per unit conductivity need k: their geometry is fixed here.
        fb = forward._far
        self._far_phi = np.stack([np.asarray(fb.basis[i][0]) for i in range(fb.Nbfun)])  # (nb, n_far, n_qp)
        x = np.asarray(fb.global_coordinates())
        nvec = np.asarray(fb.normals)
        c = forward.mesh.centre
        dx, dz = x[0] - c[0], x[1] - c[1]
        self._far_r = np.sqrt(dx**2 + dz**2)
        self._far_cos = (dx * nvec[0] + dz * nvec[1]) / self._far_r
        self._far_dx = fb.dx
        self._far_dofs = fb.element_dofs.T  # (n_far, nb)

    @property
    def mesh(self):
        """The :class:`~femeit.ert.mesh25d.HalfPlaneMesh` (one parameter per triangle)."""
        return self.forward.mesh

    def _solve(self, sigma: np.ndarray) -> None:
        key = sigma.tobytes()
        if key == self._key:
            return
        fwd = self.forward
        stiff, mass = fwd._matrices(sigma)
        L = fwd.n_electrodes
        rhs = np.zeros((fwd.basis.N, L))
        rhs[fwd._source_dofs, np.arange(L)] = 0.5
        fields = []
        green = np.zeros((L, L))
        for kj, wj in zip(fwd.k, fwd.w, strict=True):
            a = stiff + kj**2 * mass
            if fwd.boundary == "mixed":
                a = a + fwd._robin(sigma, kj)
            u = factorize(a, fwd.backend)(rhs)
            fields.append(u)
            green += wj * u[fwd._source_dofs]
        self._kfields = fields
        self._green = green * (2.0 / np.pi)
        self._key = key

    def simulate(self, sigma: float | np.ndarray | Callable) -> np.ndarray:
        """The protocol's readings, V (ohm at 1 A), shape (n_rows,)."""
        s = self.forward.conductivity(sigma)
        self._solve(s)
        L = self.forward.n_electrodes
        g = np.where(np.eye(L, dtype=bool), 0.0, self._green)
        return np.einsum("rl,rl->r", self.protocol.measurements[:, :L], (self._inj @ g.T)[self._row_inj])

    def jacobian(
        self, sigma: float | np.ndarray | Callable, *, log_conductivity: bool = False, chunk_bytes: int = 32 * 2**20
    ) -> np.ndarray:
        """Sensitivity of the readings to the element conductivities (module docstring).

        Parameters
        ----------
        sigma : float, ndarray (n_elements,) or callable
            Conductivity at which to linearise, S/m.
        log_conductivity : bool
            Return dV / d ln(sigma) = sigma dV / dsigma.
        chunk_bytes : int
            Memory of the per-chunk temporaries.

        Returns
        -------
        ndarray, shape (n_rows, n_elements)
            V per S/m (or per unit log-conductivity) at the protocol's currents.
        """
        fwd = self.forward
        s = fwd.conductivity(sigma)
        self._solve(s)
        n_rows, n_elem = self.protocol.n_rows, fwd.mesh.n_elements
        check_bytes(8.0 * n_rows * n_elem, f"the {n_rows} x {n_elem} Jacobian")
        dofs = fwd.basis.element_dofs.T  # (n_elem, nb)
        nb = dofs.shape[1]
        n_far = len(self._far_dofs)
        # Far facets act as extra "elements" whose columns fold onto the element behind them.
        all_dofs = np.vstack([dofs, self._far_dofs])
        owner = np.concatenate([np.arange(n_elem), fwd._far_elements])
        out = np.zeros((n_rows, n_elem))
        ext = np.zeros((n_rows, n_elem + n_far))
        step = max(1, int(chunk_bytes // (8 * 3 * (n_elem + n_far))))
        for kj, wj, phi in zip(fwd.k, fwd.w, self._kfields, strict=True):
            ut = self._inj @ phi.T  # (P, n_dofs): current-pattern fields
            wt = self._meas @ phi.T  # (Q, n_dofs): potential-pattern fields
            ae = (fwd._ke + kj**2 * fwd._me).reshape(n_elem, nb, nb)
            if fwd.boundary == "mixed":
                kr = kj * self._far_r
                coef = kj * k1e(kr) / k0e(kr) * self._far_cos * self._far_dx  # (n_far, n_qp)
                be = np.einsum("afq,bfq,fq->fab", self._far_phi, self._far_phi, coef)
                ae = np.concatenate([ae, be])
            else:
                ae = np.concatenate([ae, np.zeros((n_far, nb, nb))])
            # Element-local products, each (patterns, n_ext) and contiguous along the elements.
            ue = [ut[:, all_dofs[:, b]] for b in range(nb)]
            we = [wt[:, all_dofs[:, a]] for a in range(nb)]
            tu = [sum(ae[:, a, b] * ue[b] for b in range(nb)) for a in range(nb)]  # (A_e u_p)_a
            for start in range(0, n_rows, step):
                rows = slice(start, min(start + step, n_rows))
                pr, qr = self._row_inj[rows], self._row_meas[rows]
                block = tu[0][pr] * we[0][qr]
                for a in range(1, nb):
                    block += tu[a][pr] * we[a][qr]
                ext[rows] = block
            ext *= -(4.0 / np.pi) * wj
            out += ext[:, :n_elem]
            np.add.at(out.T, owner[n_elem:], ext[:, n_elem:].T)
        if log_conductivity:
            out *= s[None, :]
        return out
