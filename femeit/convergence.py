"""Mesh-refinement studies of the forward model: errors against h and fitted rates.

:func:`convergence_study` meshes a spec ``levels`` times, dividing every mesh
size by ``refinement`` each time, solves the forward problem with P1 and/or P2
elements and measures the relative error of the readings,
``max |v_h - v_ref| / max |v_ref|``, against

* the analytic solution where the spec has one: a homogeneous disk with finite
  electrodes (complete electrode model, Fourier-Ritz series); a ball with point
  electrodes, homogeneous or with its concentric inner sphere (closed form and
  Legendre series); a 3D half-space line of point electrodes, homogeneous
  (point-source formula) or over one buried sphere (multipole series of the
  anomaly, ``v(sigma) - v(background)``);
* otherwise a finer mesh: one more refinement level, solved with the highest
  order asked for (a self-convergence study, e.g. a cylinder with CEM electrodes).

The rate is the least-squares slope of log(error) against log(h) over the
levels.  Our choice of error measure (the worst reading relative to the largest
one) is the one of the validation report; it is insensitive to the constant
that the potentials are defined up to, since readings are differences.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from femeit.errors import FemeitError

#: Mesh-size fields of each spec kind that a refinement divides.
_SIZE_FIELDS = {
    "halfspace_line": ("h_electrode", "h_survey", "h_inclusion"),
}


@dataclass(frozen=True)
class ConvergenceStudy:
    """The result of :func:`convergence_study`.

    Attributes
    ----------
    reference : str
        What the errors are measured against ("analytic: ..." or "finer mesh: ...").
    sizes : ndarray, shape (levels,)
        The bulk mesh size of each level, m (for a half-space, the survey-zone size).
    n_elements : ndarray, shape (levels,)
        Elements of each level's mesh.
    errors : dict of int to ndarray, shape (levels,)
        Relative error of the readings per element order.
    rates : dict of int to float
        Fitted slope of log(error) against log(h) per order.
    """

    reference: str
    sizes: np.ndarray
    n_elements: np.ndarray
    errors: dict[int, np.ndarray]
    rates: dict[int, float] = field(default_factory=dict)

    def table(self) -> str:
        """A plain-text table: one line per level, one error column per order, then the rates."""
        orders = sorted(self.errors)
        lines = [f"reference: {self.reference}", "h          elements  " + "  ".join(f"P{p} error " for p in orders)]
        for i, h in enumerate(self.sizes):
            errs = "  ".join(f"{self.errors[p][i]:10.3e}" for p in orders)
            lines.append(f"{h:<10.4g} {int(self.n_elements[i]):8d}  {errs}")
        lines.append("rate                " + "  ".join(f"{self.rates[p]:10.2f}" for p in orders))
        return "\n".join(lines)

    def plot(self, *, path=None, ax=None, title: str | None = None, dpi: int | None = None):
        """Errors against h on log axes with the fitted rates (:func:`femeit.viz.plot_convergence`).

        Returns
        -------
        matplotlib.figure.Figure
        """
        from femeit.viz import plot_convergence

        orders = sorted(self.errors)
        return plot_convergence(
            self.sizes,
            [self.errors[p] for p in orders],
            labels=[f"P{p}" for p in orders],
            ax=ax,
            path=path,
            dpi=dpi,
            title=title or f"against {self.reference}",
            xlabel="mesh size h (m)",
        )


def fitted_rate(sizes, errors) -> float:
    """Least-squares slope of log(error) against log(h).

    Parameters
    ----------
    sizes, errors : array_like, shape (n,)
        Mesh sizes (m) and errors (any positive measure), n >= 2.

    Returns
    -------
    float
    """
    h, e = np.asarray(sizes, dtype=float), np.asarray(errors, dtype=float)
    if h.shape != e.shape or h.size < 2 or np.any(h <= 0) or np.any(e <= 0):
        raise FemeitError(f"a rate needs at least two positive sizes and errors, got {h.tolist()} and {e.tolist()}")
    return float(np.polyfit(np.log(h), np.log(e), 1)[0])


def refined(spec, factor: float):
    """The spec with every mesh size divided by ``factor`` (bulk, electrode and, for a half-space, zone sizes).

    Parameters
    ----------
    spec : any geometry spec
    factor : float
        > 0; 2 halves the sizes.
    """
    kind = getattr(spec, "kind", None)
    if kind in _SIZE_FIELDS:
        sizes = spec.sizes
        current = {
            "h_electrode": sizes["electrode"],
            "h_survey": sizes["survey"],
            "h_inclusion": spec.h_inclusion if spec.h_inclusion is not None else sizes["survey"],
        }
        return dataclasses.replace(spec, **{k: v / factor for k, v in current.items() if k in _SIZE_FIELDS[kind]})
    if not hasattr(spec, "mesh_size"):
        raise FemeitError(f"cannot refine a {type(spec).__name__}: it has no mesh size")
    return dataclasses.replace(spec, h=spec.mesh_size / factor, h_electrode=spec.electrode_mesh_size / factor)


def _size(spec) -> float:
    return spec.sizes["survey"] if getattr(spec, "kind", None) == "halfspace_line" else spec.mesh_size


def _analytic(spec, protocol, sigma: dict, contact_impedance: float):
    """(reference readings, description, electrode model, anomaly?) or None when the spec has no closed form."""
    from femeit.analytic import (
        ball_point_potentials,
        disk_cem_potentials,
        halfspace_point_potentials,
        halfspace_sphere_anomaly,
        layered_ball_point_potentials,
        protocol_voltages,
    )
    from femeit.geometry import BallSpec, CircleSpec, HalfspaceLineSpec, SphereInclusion

    s0 = sigma.get("domain", 1.0)
    inj = protocol.injections
    if isinstance(spec, CircleSpec) and not spec.inclusions and spec.electrode_width > 0:
        u = disk_cem_potentials(
            spec.radius, s0, np.array(spec.electrode_angles_deg()), spec.electrode_width, contact_impedance, inj
        )
        return protocol_voltages(protocol, u), "analytic: disk, complete electrode model (Fourier-Ritz)", "cem", False
    if isinstance(spec, BallSpec) and spec.electrode_radius == 0:
        pos = np.array(spec.electrode_centres())
        if not spec.inner_radius:
            u = ball_point_potentials(pos, spec.radius, s0, inj)
            return protocol_voltages(protocol, u), "analytic: homogeneous ball, point electrodes", "point", False
        inner = sigma.get("inclusion_inner", s0)
        u = layered_ball_point_potentials(pos, spec.radius, s0, spec.inner_radius, inner, inj)
        what = f"analytic: layered ball (inner {inner:g} S/m), point electrodes"
        return protocol_voltages(protocol, u), what, "point", False
    if isinstance(spec, HalfspaceLineSpec) and spec.dim == 3 and spec.electrode_width == 0:
        pos = np.c_[spec.electrode_x(), np.zeros(spec.n_electrodes), np.zeros(spec.n_electrodes)]
        if not spec.inclusions:
            u = halfspace_point_potentials(pos, s0, inj)
            return protocol_voltages(protocol, u), "analytic: homogeneous half-space, point electrodes", "point", False
        if len(spec.inclusions) == 1 and isinstance(spec.inclusions[0], SphereInclusion):
            sph = spec.inclusions[0]
            inner = sigma.get("inclusion_1", s0)
            if inner == s0:
                raise FemeitError("the buried-sphere reference needs a contrast: give inclusion_1 a conductivity")
            u = halfspace_sphere_anomaly(pos, (sph.x, sph.y, sph.z), sph.radius, s0, inner, inj)
            what = f"analytic: anomaly of a buried sphere ({inner:g} in {s0:g} S/m), point electrodes"
            return protocol_voltages(protocol, u), what, "point", True
    return None


def convergence_study(
    spec,
    *,
    orders=(1, 2),
    levels: int = 3,
    refinement: float = 2.0,
    protocol=None,
    sigma: dict | float = 1.0,
    contact_impedance: float = 0.01,
    reference: str = "auto",
    cache: bool = True,
) -> ConvergenceStudy:
    """Refine a spec's mesh ``levels`` times and measure the forward model's error at each level.

    Parameters
    ----------
    spec : geometry spec
        The coarsest level (its own mesh sizes).
    orders : sequence of {1, 2}
        Element orders to study.
    levels : int
        Number of meshes, >= 2 (3 gives a rate from three points).
    refinement : float
        Factor (> 1) dividing every mesh size from one level to the next.
    protocol : Protocol, optional
        Default ``Protocol.adjacent(n_electrodes)``.
    sigma : float or dict of str to float
        Conductivity (S/m), one value or one per region name.
    contact_impedance : float
        Ohm m^(d-1) (CEM electrodes only).
    reference : {"auto", "analytic", "finer"}
        "auto": analytic where the spec has a closed form, else a finer mesh.
    cache : bool
        Use the mesh cache.

    Returns
    -------
    ConvergenceStudy
    """
    from femeit.forward import ForwardModel
    from femeit.geometry import mesh_from_spec
    from femeit.protocol import Protocol

    orders = tuple(int(p) for p in np.atleast_1d(orders))
    if not orders or any(p not in (1, 2) for p in orders):
        raise FemeitError(f"orders must be 1 and/or 2, got {orders}")
    if int(levels) != levels or levels < 2:
        raise FemeitError(f"levels must be a whole number >= 2, got {levels}")
    if not np.isfinite(refinement) or refinement <= 1:
        raise FemeitError(f"refinement must be a number > 1, got {refinement}")
    if reference not in ("auto", "analytic", "finer"):
        raise FemeitError(f"reference must be 'auto', 'analytic' or 'finer', got {reference!r}")
    sigma = {"domain": float(sigma)} if np.isscalar(sigma) else dict(sigma)
    specs = [refined(spec, refinement**k) for k in range(int(levels))]
    meshes = [mesh_from_spec(s, cache=cache) for s in specs]
    if protocol is None:
        protocol = Protocol.adjacent(len(meshes[0].electrodes))

    exact = None if reference == "finer" else _analytic(spec, protocol, sigma, contact_impedance)
    if reference == "analytic" and exact is None:
        raise FemeitError(f"no analytic reference for this {type(spec).__name__}; use reference='finer'")
    points_only = all(not len(e.facets) for e in meshes[0].electrodes)
    electrode_model = exact[2] if exact else ("point" if points_only else "cem")
    background = {name: sigma.get("domain", 1.0) for name in meshes[0].region_names}

    def readings(mesh, order):
        model = ForwardModel(mesh, protocol, contact_impedance, order=order, electrode_model=electrode_model)
        v = model.simulate(sigma)
        return v - model.simulate(background) if exact is not None and exact[3] else v

    if exact is not None:
        ref, what = exact[0], exact[1]
    else:
        finest = mesh_from_spec(refined(spec, refinement ** int(levels)), cache=cache)
        ref = readings(finest, max(orders))
        what = f"finer mesh: h = {_size(refined(spec, refinement ** int(levels))):.4g} m, P{max(orders)}"
    scale = np.abs(ref).max()
    errors = {p: np.array([np.abs(readings(m, p) - ref).max() / scale for m in meshes]) for p in orders}
    sizes = np.array([_size(s) for s in specs])
    return ConvergenceStudy(
        reference=what,
        sizes=sizes,
        n_elements=np.array([m.n_elements for m in meshes]),
        errors=errors,
        rates={p: fitted_rate(sizes, errors[p]) for p in orders},
    )


def save_study(study: ConvergenceStudy, out: str | Path, *, dpi: int | None = None) -> list[Path]:
    """Write ``out.txt`` (the table) and ``out.png`` (the plot; skipped without matplotlib).

    Returns
    -------
    list of Path
        The files written.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    written = [out.with_suffix(".txt")]
    written[0].write_text(study.table() + "\n")
    try:
        study.plot(path=out.with_suffix(".png"), dpi=dpi)
        written.append(out.with_suffix(".png"))
    except FemeitError:  # no matplotlib: the table stands alone
        pass
    return written
