"""Dispatch a geometry spec to its gmsh builder, and mesh a spec (through the mesh cache)."""

from __future__ import annotations

import time
from pathlib import Path

from femeit.errors import FemeitError, SpecError
from femeit.geometry.ball import build_ball
from femeit.geometry.cache import MeshCache
from femeit.geometry.circle import build_circle
from femeit.geometry.cylinder import build_cylinder
from femeit.geometry.halfspace import build_halfspace_line
from femeit.geometry.specs import SPEC_TYPES, Spec
from femeit.mesh import EITMesh
from femeit.mesh.gmsh_session import MeshGroups, extract_groups, gmsh_session

BUILDERS = {
    "circle": build_circle,
    "cylinder": build_cylinder,
    "halfspace_line": build_halfspace_line,
    "ball": build_ball,
}


def build_groups(spec: Spec) -> MeshGroups:
    """Mesh ``spec`` with gmsh and return its physical groups as arrays."""
    kind = getattr(spec, "kind", None)
    if kind not in BUILDERS or not isinstance(spec, SPEC_TYPES[kind]):
        raise SpecError(f"not a geometry spec: {type(spec).__name__} (expected one of {sorted(BUILDERS)})")
    with gmsh_session(kind):
        BUILDERS[kind](spec)
        return extract_groups()


def mesh_from_spec(spec: Spec, *, cache: bool = True, cache_dir: str | Path | None = None) -> EITMesh:
    """Mesh a geometry spec with gmsh (or load it from the mesh cache).

    Parameters
    ----------
    spec : Spec
        A :mod:`femeit.geometry.specs` dataclass.
    cache : bool
        Reuse a mesh built earlier from an identical spec with the same gmsh
        version (see :mod:`femeit.geometry.cache`).
    cache_dir : path, optional
        Cache folder; default ``$FEMEIT_CACHE_DIR`` or ``~/.cache/femeit``.

    Returns
    -------
    EITMesh
        ``info`` records ``source`` (``gmsh`` or ``cache``), ``cache_hit`` and ``seconds``.
    """
    if not isinstance(spec, tuple(SPEC_TYPES.values())):
        raise FemeitError(
            f"mesh_from_spec needs a geometry spec ({', '.join(c.__name__ for c in SPEC_TYPES.values())}), "
            f"got {type(spec).__name__}; use load_spec() for a TOML file"
        )
    start = time.perf_counter()
    store = MeshCache(cache_dir) if cache else None
    if store is not None:
        hit = store.load(spec)
        if hit is not None:
            mesh = EITMesh.from_parts(spec=spec, **hit)
            mesh.info.update(source="cache", cache_hit=True, seconds=time.perf_counter() - start)
            return mesh
    groups = build_groups(spec)
    mesh = EITMesh.from_groups(groups, where=f"{spec.kind} spec", spec=spec)
    if store is not None:
        store.save(spec, mesh)
    mesh.info.update(source="gmsh", cache_hit=False, seconds=time.perf_counter() - start)
    return mesh
