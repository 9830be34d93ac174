"""The complete electrode model on a homogeneous disk, by a Fourier series.

The CEM on a disk of radius R with conductivity sigma is the minimiser, over the
boundary potential f(theta) and electrode potentials U, of the energy::

    1/2 sigma <f, Lambda f> + sum_l 1/(2 z_l) int_{e_l} (f - U_l)^2 ds - sum_l I_l U_l

where Lambda is the Dirichlet-to-Neumann map of the disk.  In the Fourier basis
{1, cos n theta, sin n theta} Lambda is diagonal (the harmonic extension of
cos n theta is (r/R)^n cos n theta, of energy pi n), and every electrode
integral has a closed form, so the Ritz system is exact for the truncated
series.  The electrode potentials converge rapidly with the number of modes
(the solver checks it by halving the modes and reports the change).  This is
the same variational problem the finite-element CEM discretises, with no
discretisation of the interior.
"""

from __future__ import annotations

import numpy as np

from femeit.errors import FemeitError


def _interval_integrals(k: np.ndarray, a: float, b: float) -> tuple[np.ndarray, np.ndarray]:
    """int_a^b cos(k t) dt and int_a^b sin(k t) dt, elementwise in integer k."""
    k = np.asarray(k, dtype=float)
    safe = np.where(k == 0, 1.0, k)
    c = np.where(k == 0, b - a, (np.sin(k * b) - np.sin(k * a)) / safe)
    s = np.where(k == 0, 0.0, (np.cos(k * a) - np.cos(k * b)) / safe)
    return c, s


def _electrode_matrices(n_modes: int, a: float, b: float, radius: float) -> tuple[np.ndarray, np.ndarray]:
    """Gram matrix and load vector of the basis [1, cos n, sin n] over the arc [a, b]."""
    n = np.arange(1, n_modes + 1)
    nn, mm = np.meshgrid(n, n, indexing="ij")
    c_minus, s_minus = _interval_integrals(nn - mm, a, b)
    c_plus, s_plus = _interval_integrals(nn + mm, a, b)
    cc = 0.5 * (c_minus + c_plus)
    ss = 0.5 * (c_minus - c_plus)
    # sin(n t) cos(m t) = (sin((n+m)t) + sin((n-m)t)) / 2
    sc = 0.5 * (s_plus + s_minus)
    c1, s1 = _interval_integrals(n, a, b)
    size = 2 * n_modes + 1
    gram = np.empty((size, size))
    gram[0, 0] = b - a
    gram[0, 1 : n_modes + 1] = gram[1 : n_modes + 1, 0] = c1
    gram[0, n_modes + 1 :] = gram[n_modes + 1 :, 0] = s1
    gram[1 : n_modes + 1, 1 : n_modes + 1] = cc
    gram[n_modes + 1 :, n_modes + 1 :] = ss
    gram[n_modes + 1 :, 1 : n_modes + 1] = sc
    gram[1 : n_modes + 1, n_modes + 1 :] = sc.T
    load = np.concatenate([[b - a], c1, s1])
    return gram * radius, load * radius


def _solve(radius, sigma, centres, half_angles, z, injections, n_modes) -> np.ndarray:
    L = len(centres)
    size = 2 * n_modes + 1
    n = np.arange(1, n_modes + 1)
    stiffness = np.diag(np.concatenate([[0.0], np.pi * sigma * n, np.pi * sigma * n]))
    a = np.zeros((size + L, size + L))
    a[:size, :size] = stiffness
    for l_ in range(L):
        gram, load = _electrode_matrices(n_modes, centres[l_] - half_angles[l_], centres[l_] + half_angles[l_], radius)
        a[:size, :size] += gram / z[l_]
        a[:size, size + l_] -= load / z[l_]
        a[size + l_, :size] -= load / z[l_]
        a[size + l_, size + l_] += 2 * half_angles[l_] * radius / z[l_]
    # Ground electrode 0 (the system is singular for constants), then shift to zero mean.
    keep = np.r_[0:size, size + 1 : size + L]
    rhs = np.zeros((size + L, len(injections)))
    rhs[size:, :] = injections.T
    x = np.zeros_like(rhs)
    x[keep] = np.linalg.solve(a[np.ix_(keep, keep)], rhs[keep])
    u = x[size:].T
    return u - u.mean(axis=1, keepdims=True)


def disk_cem_potentials(
    radius: float,
    sigma: float,
    angles_deg: np.ndarray,
    widths: float | np.ndarray,
    contact_impedance: float | np.ndarray,
    injections: np.ndarray,
    n_modes: int = 512,
    return_error: bool = False,
) -> np.ndarray | tuple[np.ndarray, float]:
    """Electrode potentials of the CEM on a homogeneous disk (Fourier-Ritz solution).

    The truncation error of the Ritz solution falls as n_modes^-2 (the current
    density jumps at the electrode edges), so we Richardson-extrapolate the
    solutions with n_modes / 2 and n_modes modes, (4 u_N - u_{N/2}) / 3.  With
    the default 512 modes, 16 electrodes and z = 0.01 the result agrees with
    the 1024-mode extrapolation to about 1e-5 relative.

    Parameters
    ----------
    radius : float
        Disk radius, m.
    sigma : float
        Conductivity, S/m.
    angles_deg : ndarray, shape (L,)
        Polar angle of each electrode centre, degrees.
    widths : float or ndarray, shape (L,)
        Electrode arc lengths, m.
    contact_impedance : float or ndarray, shape (L,)
        Contact impedance, ohm m.
    injections : ndarray, shape (n_injections, L)
        Current patterns, A.
    n_modes : int
        Fourier modes kept (cos and sin each) in the finer of the two solutions.
    return_error : bool
        Also return an error estimate: the largest change of the extrapolated
        result against the one from half the modes, relative to its largest value.

    Returns
    -------
    ndarray, shape (n_injections, L)
        Electrode potentials, V, zero mean per pattern.
    """
    centres = np.radians(np.asarray(angles_deg, dtype=float))
    L = len(centres)
    half = np.broadcast_to(np.asarray(widths, dtype=float), (L,)) / (2 * radius)
    z = np.broadcast_to(np.asarray(contact_impedance, dtype=float), (L,))
    injections = np.atleast_2d(np.asarray(injections, dtype=float))
    if np.any(z <= 0) or sigma <= 0 or radius <= 0 or np.any(half <= 0):
        raise FemeitError("radius, sigma, widths and contact impedance must be positive")
    if injections.shape[1] != L:
        raise FemeitError(f"injections must have {L} columns, got {injections.shape}")
    if n_modes < 16:
        raise FemeitError(f"n_modes must be at least 16, got {n_modes}")

    def solve(n: int) -> np.ndarray:
        return _solve(radius, sigma, centres, half, z, injections, n)

    fine, mid = solve(n_modes), solve(n_modes // 2)
    extrapolated = (4 * fine - mid) / 3
    if not return_error:
        return extrapolated
    previous = (4 * mid - solve(n_modes // 4)) / 3
    return extrapolated, float(np.abs(extrapolated - previous).max() / np.abs(extrapolated).max())
