"""Mesh a geometry spec: through the mesh cache, else with gmsh."""

from __future__ import annotations

import time
from pathlib import Path

from femeit.errors import FemeitError, MeshContractError, warn
from femeit.geometry.kinds import SPEC_TYPES, Spec
from femeit.mesh import EITMesh


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
    # gmsh is imported only here, when a mesh is built or looked up, not with femeit.
    from femeit.geometry.build import build_groups
    from femeit.geometry.cache import MeshCache

    start = time.perf_counter()
    store = MeshCache(cache_dir) if cache else None
    if store is not None:
        hit = store.load(spec)
        if hit is not None:
            try:
                mesh = EITMesh.from_parts(spec=spec, **hit)
            except MeshContractError as exc:  # an entry that fails the mesh checks: mesh again
                warn(f"{exc}; meshing again", RuntimeWarning)
            else:
                mesh.info.update(source="cache", cache_hit=True, seconds=time.perf_counter() - start)
                return mesh
    groups = build_groups(spec)
    mesh = EITMesh.from_groups(groups, where=f"{spec.kind} spec", spec=spec)
    if store is not None:
        store.save(spec, mesh)
    mesh.info.update(source="gmsh", cache_hit=False, seconds=time.perf_counter() - start)
    return mesh
