"""Checks that a valid spec can also be meshed: sizes gmsh can resolve, enough electrodes.

The dataclasses in :mod:`femeit.geometry.specs` check each value; these checks
look at the spec as a whole just before gmsh is called, so a tiny radius or
width is reported as a :class:`~femeit.errors.SpecError` naming the parameter
instead of gmsh's "Could not create circle arc" or a mesh of degenerate
elements.  gmsh's geometry tolerance (``Geometry.Tolerance``, 1e-8) makes
features below about 1e-5 of the domain size collapse; we refuse those.
"""

from __future__ import annotations

import math

from femeit.errors import SpecError

MIN_DOMAIN = 1e-5  # m: smaller domains fail in gmsh's OpenCASCADE kernel
MIN_RELATIVE = 1e-5  # smallest feature / domain size that meshes without degenerate elements


def _features(spec) -> tuple[float, list[tuple[str, float]]]:
    """(domain size, [(parameter name, length)]) of the lengths that shape the geometry."""
    feats: list[tuple[str, float]] = []
    kind = spec.kind
    if kind in ("contour", "extruded"):
        # The outline specs check their inclusions' footprints themselves;
        # here only the electrode sizes against the domain size.
        for i, ring in enumerate(spec.rings):
            for name in {"arc": ("width",), "rectangle": ("width", "height"), "circle": ("radius",)}.get(
                ring.shape, ()
            ):
                feats.append((f"rings[{i}].{name}", getattr(ring, name)))
        size = spec.outline.perimeter / math.pi
        return (size if kind == "contour" else min(size, spec.height)), feats
    for i, inc in enumerate(getattr(spec, "inclusions", ())):
        if hasattr(inc, "radius"):
            feats.append((f"inclusions[{i}].radius", inc.radius))
        else:
            for axis in "xyz":
                feats.append((f"inclusions[{i}] {axis} side", getattr(inc, f"{axis}1") - getattr(inc, f"{axis}0")))
    if kind == "circle":
        if spec.electrode_width > 0:
            feats.append(("electrode_width", spec.electrode_width))
        return spec.radius, feats
    if kind == "cylinder":
        for i, ring in enumerate(spec.rings):
            if ring.shape == "circle":
                feats.append((f"rings[{i}].electrode_radius", ring.electrode_radius))
            else:
                feats.append((f"rings[{i}].electrode_width", ring.electrode_width))
                feats.append((f"rings[{i}].electrode_height", ring.electrode_height))
        return min(spec.radius, spec.height), feats
    if kind == "ball":
        for name in ("electrode_radius", "inner_radius"):
            if getattr(spec, name) > 0:
                feats.append((name, getattr(spec, name)))
        return spec.radius, feats
    if spec.electrode_width > 0:
        feats.append(("electrode_width", spec.electrode_width))
    feats.append(("spacing", spec.spacing))
    return max(spec.array_length, spec.spacing), feats


def check_buildable(spec) -> None:
    """Raise :class:`SpecError` when gmsh could not resolve ``spec``'s sizes or it has one electrode."""
    owner = type(spec).__name__
    if spec.n_electrodes < 2:
        raise SpecError(f"{owner} has {spec.n_electrodes} electrode; EIT needs at least 2 to drive a current")
    domain, feats = _features(spec)
    if domain < MIN_DOMAIN:
        raise SpecError(
            f"{owner}: the domain size {domain:.3g} m is below {MIN_DOMAIN:g} m, which gmsh cannot mesh; "
            "describe the geometry in larger units"
        )
    for name, length in feats:
        if length < MIN_RELATIVE * domain:
            raise SpecError(
                f"{owner}.{name} = {length:.3g} m is below {MIN_RELATIVE:g} of the domain size {domain:.3g} m; "
                "gmsh cannot resolve it (it would make degenerate elements)"
            )
