"""Size guards: estimate a mesh or an allocation before making it, refuse it above a limit.

A mistyped ``h = 1e-5`` on a unit disk asks gmsh for about 10^11 triangles
and runs for hours before it runs out of memory; ``image.shape = [100000,
100000]`` asks for 75 GiB per image.  These checks estimate the size first
and raise :class:`~femeit.errors.FemeitError` showing the estimate and the
limit, unless the limits are lifted with :func:`allow_large` (the CLI's
``--force``) or raised with the environment variables ``FEMEIT_MAX_ELEMENTS``
and ``FEMEIT_MAX_BYTES``.

The element estimate is the element count of a uniform mesh of the bulk size
(about ``2.3 A / h^2`` triangles in 2D, ``6 V / h^3`` tetrahedra in 3D, the
packing gmsh's Delaunay and frontal algorithms reach) plus the refined zone
round each electrode (its size over the electrode mesh size, squared in 3D,
times the number of grading layers ``log2(h / h_electrode)``).  It is meant to
be right within a factor of a few, which is all a guard needs.
"""

from __future__ import annotations

import math
import os
from contextlib import contextmanager

from femeit.errors import FemeitError

DEFAULT_MAX_ELEMENTS = 5_000_000
DEFAULT_MAX_BYTES = 4 * 2**30

_forced = False


def allow_large(enabled: bool = True) -> None:
    """Lift (or restore) every size limit of this module for the rest of the process."""
    global _forced
    _forced = bool(enabled)


@contextmanager
def large_allowed():
    """Context manager: size limits lifted inside the block."""
    global _forced
    saved, _forced = _forced, True
    try:
        yield
    finally:
        _forced = saved


def _limit(name: str, default: float) -> float:
    text = os.environ.get(name)
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise FemeitError(f"${name} must be a number, got {text!r}") from None
    if not value > 0:
        raise FemeitError(f"${name} must be positive, got {text!r}")
    return value


def max_elements() -> float:
    """Largest element count meshed without ``--force`` (``$FEMEIT_MAX_ELEMENTS``, default 5 million)."""
    return _limit("FEMEIT_MAX_ELEMENTS", DEFAULT_MAX_ELEMENTS)


def max_bytes() -> float:
    """Largest single allocation made without ``--force`` (``$FEMEIT_MAX_BYTES``, default 4 GiB)."""
    return _limit("FEMEIT_MAX_BYTES", DEFAULT_MAX_BYTES)


def _layers(h: float, h_electrode: float) -> float:
    return max(1.0, math.log2(max(h / h_electrode, 1.0)) + 1.0)


def estimate_elements(spec) -> float:
    """Rough number of elements gmsh will make for ``spec`` (see the module docstring).

    Parameters
    ----------
    spec : Spec
        A :mod:`femeit.geometry.specs` dataclass.

    Returns
    -------
    float
    """
    kind = spec.kind
    if kind == "circle":
        h, he = spec.mesh_size, spec.electrode_mesh_size
        bulk = 2.3 * math.pi * spec.radius**2 / h**2
        per_electrode = 4.0 * max(spec.electrode_width, he) / he * _layers(h, he)
        return bulk + spec.n_electrodes * per_electrode
    if kind == "cylinder":
        h, he = spec.mesh_size, spec.electrode_mesh_size
        bulk = 6.0 * math.pi * spec.radius**2 * spec.height / h**3
        extra = 0.0
        for ring in spec.rings:
            a, b = ring.half_extent()
            extra += ring.n_electrodes * 8.0 * max(4 * a * b, he * he) / he**2 * _layers(h, he)
        return bulk + extra
    if kind in ("contour", "extruded"):
        h, he = spec.mesh_size, spec.electrode_mesh_size
        outline = spec.outline
        if kind == "contour":
            bulk = 2.3 * outline.area / h**2
            per = [4.0 * max(2 * r.half_extent()[0], he) / he * _layers(h, he) for r in spec.rings]
        else:
            bulk = 6.0 * outline.area * spec.height / h**3
            per = [8.0 * max(4 * math.prod(r.half_extent()), he * he) / he**2 * _layers(h, he) for r in spec.rings]
        return bulk + sum(r.n_electrodes * p for r, p in zip(spec.rings, per, strict=True))
    if kind == "ball":
        h, he = spec.mesh_size, spec.electrode_mesh_size
        bulk = 6.0 * 4.0 / 3.0 * math.pi * spec.radius**3 / h**3
        size = max(math.pi * spec.electrode_radius**2, he * he)
        return bulk + spec.n_electrodes * 8.0 * size / he**2 * _layers(h, he)
    if kind == "halfspace_line":
        sizes = spec.sizes
        lo, hi = spec.box()
        extent = [b - a for a, b in zip(lo, hi, strict=True)]
        survey = [spec.array_length + 2 * spec.spacing, spec.depth_of_survey + spec.spacing]
        if spec.dim == 2:
            bulk = 2.3 * (survey[0] * survey[1] / sizes["survey"] ** 2 + math.prod(extent) / sizes["far"] ** 2)
            per_electrode = 4.0 * max(spec.electrode_width, sizes["electrode"]) / sizes["electrode"]
        else:
            survey.append(survey[0])
            bulk = 6.0 * (math.prod(survey) / sizes["survey"] ** 3 + math.prod(extent) / sizes["far"] ** 3)
            per_electrode = 8.0 * max(spec.electrode_width, sizes["electrode"]) ** 2 / sizes["electrode"] ** 2
        return bulk + spec.n_electrodes * per_electrode * _layers(sizes["survey"], sizes["electrode"])
    raise FemeitError(f"no size estimate for a {kind!r} spec")


def check_mesh_size(spec) -> None:
    """Refuse to mesh ``spec`` when the estimated element count exceeds :func:`max_elements`."""
    if _forced:
        return
    estimate = estimate_elements(spec)
    limit = max_elements()
    if estimate > limit:
        raise FemeitError(
            f"the {spec.kind} spec would make about {estimate:.3g} elements (the limit is {limit:.3g}); "
            "check the mesh sizes h and h_electrode, or pass --force (femeit.limits.allow_large()) "
            "to mesh it anyway"
        )


def check_bytes(nbytes: float, what: str) -> None:
    """Refuse an allocation of ``nbytes`` above :func:`max_bytes`, naming ``what`` and the estimate."""
    if _forced:
        return
    limit = max_bytes()
    if nbytes > limit:
        raise FemeitError(
            f"{what} would need about {nbytes / 2**30:.3g} GiB of memory (the limit is {limit / 2**30:.3g} GiB); "
            "make it smaller, or pass --force (femeit.limits.allow_large()) to try anyway"
        )


def check_dataset_size(config, n_samples: int, chunk_size: int) -> None:
    """Guard a dataset run: the sensor mesh, one image and one chunk of images in memory."""
    check_mesh_size(config.spec)
    rows, cols = config.image_shape
    check_bytes(8.0 * rows * cols, f"one {rows} x {cols} image (image.shape)")
    check_bytes(4.0 * rows * cols * min(chunk_size, n_samples), f"a chunk of {chunk_size} {rows} x {cols} images")
