"""Golub-Kahan-Lanczos bidiagonalisation, the projection step of KGPSR-BB.

Li et al., IEEE Access 9 (2021), eqs. 17-18; the
algorithm is Golub-Kahan (lower) bidiagonalisation as in Hansen, *Discrete
Inverse Problems* (SIAM 2010), section 6.3.  Started from the data y, after k
steps

    S V_k = U_{k+1} B_k,        S' U_{k+1} = V_k B_k' + alpha_{k+1} v_{k+1} e_{k+1}',

with U_{k+1} (m, k+1) an orthonormal basis of K_{k+1}(S S', y), V_k (n, k) an
orthonormal basis of K_k(S'S, S'y) (eq. 17) and B_k (k+1, k) lower bidiagonal
(alpha_1..alpha_k on the diagonal, beta_2..beta_{k+1} below it).

Choice (the paper leaves it open): full reorthogonalisation of every new
vector against all previous ones, by classical Gram-Schmidt applied twice
("twice is enough"), so that the bases stay orthonormal to rounding error
(about 1e-15) instead of losing orthogonality as the Ritz values converge.
The cost is O((m + n) k^2), small next to the 2k products with S for k = 55.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from femeit.errors import FemeitError


@dataclass(frozen=True)
class Bidiagonalization:
    """Result of :func:`golub_kahan`.

    Attributes
    ----------
    U : ndarray, shape (m, k + 1)
        Orthonormal basis of K_{k+1}(S S', y); ``U[:, 0] = y / ||y||``.
    B : ndarray, shape (k + 1, k)
        Lower bidiagonal matrix with ``S V = U B`` (eq. 18).
    V : ndarray, shape (n, k)
        Orthonormal basis of K_k(S'S, S'y) (eq. 17).
    beta1 : float
        ||y||, so that ``U' y = beta1 e_1``.
    breakdown : bool
        True if the Krylov space became invariant before k steps (then k is
        the dimension reached and the projection is exact).
    """

    U: np.ndarray
    B: np.ndarray
    V: np.ndarray
    beta1: float
    breakdown: bool = False

    @property
    def k(self) -> int:
        """Dimension of the projection."""
        return self.V.shape[1]


def _orthogonalize(w: np.ndarray, Q: np.ndarray) -> np.ndarray:
    """w minus its projection on the orthonormal columns of Q, twice (CGS2)."""
    if Q.shape[1]:
        w = w - Q @ (Q.T @ w)
        w = w - Q @ (Q.T @ w)
    return w


def golub_kahan(
    jac: np.ndarray, data: np.ndarray, k: int, *, breakdown_tol: float = 1e-12, diagonal: bool = False
) -> Bidiagonalization:
    """k steps of Golub-Kahan-Lanczos bidiagonalisation of S started from y (eq. 18).

    Parameters
    ----------
    jac : ndarray, shape (m, n)
        The (normalised) sensitivity matrix S.
    data : ndarray, shape (m,)
        Data y; must not be zero.
    k : int
        Krylov dimension, 1 <= k <= min(m, n) (the paper's k = 55).
    breakdown_tol : float
        A new alpha or beta below ``breakdown_tol * ||S||_F`` ends the process early
        (an invariant subspace has been found).
    diagonal : bool
        ``jac`` is a vector s of shape (r,) standing for the square matrix
        diag(s) (then ``data`` has shape (r,)): products cost O(r).  Used by
        :func:`femeit.inverse.gpsr.kgpsr` in the coordinates of a precomputed SVD.

    Returns
    -------
    Bidiagonalization
    """
    S = np.asarray(jac, dtype=float)
    y = np.asarray(data, dtype=float)
    if diagonal:
        if S.ndim != 1:
            raise FemeitError(f"diagonal=True needs the diagonal as a 1D array, got shape {S.shape}")
        s_diag = S
        S = np.diag(s_diag)  # only for the checks and the norm below; products use s_diag

        def mul(v: np.ndarray) -> np.ndarray:
            return s_diag * v

        mul_t = mul
    else:

        def mul(v: np.ndarray) -> np.ndarray:
            return S @ v

        def mul_t(u: np.ndarray) -> np.ndarray:
            return S.T @ u

    if S.ndim != 2 or y.shape != (S.shape[0],):
        raise FemeitError(f"data must have shape ({S.shape[0]},) for a matrix of shape {S.shape}")
    m, n = S.shape
    if not (isinstance(k, int | np.integer) and 1 <= k <= min(m, n)):
        raise FemeitError(f"the Krylov dimension k must be an integer in 1..{min(m, n)}, got {k!r}")
    if not (np.all(np.isfinite(S)) and np.all(np.isfinite(y))):
        raise FemeitError("the matrix or the data contain NaN or infinite values")
    beta1 = float(np.linalg.norm(y))
    if beta1 == 0:
        raise FemeitError("the data are zero: the Krylov space is empty")
    scale = breakdown_tol * float(np.linalg.norm(S))
    U = np.zeros((m, k + 1))
    V = np.zeros((n, k))
    alphas, betas = np.zeros(k), np.zeros(k)
    U[:, 0] = y / beta1
    steps, broke = k, False
    for j in range(k):
        v = _orthogonalize(mul_t(U[:, j]), V[:, :j])
        alpha = float(np.linalg.norm(v))
        if alpha <= scale:
            steps, broke = j, True
            break
        V[:, j] = v / alpha
        alphas[j] = alpha
        u = _orthogonalize(mul(V[:, j]), U[:, : j + 1])
        beta = float(np.linalg.norm(u))
        if beta <= scale:
            # S V_j lies in span U_{j+1}: keep a zero last row and stop.
            steps, broke = j + 1, True
            break
        U[:, j + 1] = u / beta
        betas[j] = beta
    if steps == 0:
        raise FemeitError("S'y is zero: the data are orthogonal to the range of S")
    B = np.zeros((steps + 1, steps))
    idx = np.arange(steps)
    B[idx, idx] = alphas[:steps]
    B[idx + 1, idx] = betas[:steps]
    return Bidiagonalization(U[:, : steps + 1], B, V[:, :steps], beta1, broke)


def bidiagonalize(jac: np.ndarray, data: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(U_{k+1}, B_k, V_k)`` of :func:`golub_kahan` (eq. 18: ``S V_k = U_{k+1} B_k``)."""
    r = golub_kahan(jac, data, k)
    return r.U, r.B, r.V
