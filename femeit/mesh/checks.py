"""Checks of imported meshes that would otherwise give silently wrong readings.

A mesh made by another tool can be well-formed and still wrong for EIT: an
element listed twice counts its area twice (the stiffness doubles there), two
electrode groups on the same boundary curve short each other, a region list
of 0.5 and 1.7 is truncated to elements 0 and 1, quadrilaterals that femeit
cannot use would be dropped (a hole where the inclusion was), and a part of
the mesh that touches no electrode floats (its potential is undetermined).
These functions name the cause; :class:`~femeit.mesh.EITMesh` calls them when
it builds a mesh from files or arrays.
"""

from __future__ import annotations

import numpy as np

from femeit.errors import MeshContractError, warn

# gmsh element type -> readable name, for the types femeit cannot use.
_LINEAR_SIMPLEX = {1: 1, 2: 2, 3: 4}  # dim -> gmsh type of the linear simplex (line, triangle, tetrahedron)


def check_element_types(types_by_dim: dict[int, list[tuple[int, str, int]]], dim: int, where: str) -> None:
    """Refuse element types other than linear simplices in the mesh's dimension and its boundary.

    Parameters
    ----------
    types_by_dim : dict
        ``{d: [(gmsh type, name, count), ...]}`` for d = dim and dim - 1.
    dim : int
        The mesh dimension, 2 or 3.
    where : str
        The file, for messages.
    """
    for d in (dim, dim - 1):
        bad = [(name, count) for gtype, name, count in types_by_dim.get(d, []) if gtype != _LINEAR_SIMPLEX[d] and count]
        if bad:
            what = ", ".join(f"{count} {name}" for name, count in bad)
            wanted = {1: "2-node lines", 2: "3-node triangles", 3: "4-node tetrahedra"}[d]
            raise MeshContractError(
                f"{where}: unsupported {d}D elements ({what}); femeit uses only linear simplices ({wanted}). "
                "Re-mesh without recombination (no quadrilaterals or hexahedra) and with Mesh.ElementOrder = 1, "
                "or split the elements into simplices"
            )


def region_indices(name: str, idx, n_elements: int) -> np.ndarray:
    """Element indices of a region given to ``from_arrays``: integers, or a boolean mask of every element.

    Raises
    ------
    MeshContractError
        For non-integer values (0.5 would silently become element 0) or a mask of the wrong length.
    """
    arr = np.asarray(idx)
    if arr.dtype == bool:
        if arr.shape != (n_elements,):
            raise MeshContractError(
                f"region {name!r}: a boolean mask must have one entry per element ({n_elements}), got {arr.shape}"
            )
        return np.flatnonzero(arr)
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    if not np.issubdtype(arr.dtype, np.integer):
        if np.issubdtype(arr.dtype, np.floating) and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
            return arr.astype(np.int64).ravel()
        raise MeshContractError(
            f"region {name!r} must list whole element indices, got {arr.dtype} values such as {arr.ravel()[:3]}"
        )
    return arr.astype(np.int64).ravel()


def check_duplicates(elements: np.ndarray, where: str) -> None:
    """Refuse elements listed twice (the same nodes in any order)."""
    keys = np.sort(elements, axis=1)
    _, first, counts = np.unique(keys, axis=0, return_index=True, return_counts=True)
    if np.any(counts > 1):
        example = int(first[np.argmax(counts > 1)])
        raise MeshContractError(
            f"{where}: {int(np.sum(counts - 1))} duplicated elements (the same nodes listed more than once, "
            f"e.g. element {example}: nodes {elements[example].tolist()}); each would count its area again"
        )


def check_electrode_overlap(electrodes, n_nodes: int, where: str) -> None:
    """Refuse two electrodes that share a boundary facet or a point-electrode node.

    ``electrodes`` are :class:`~femeit.mesh.Electrode` objects.
    """
    owners, keys = [], []
    for k, e in enumerate(electrodes):
        if e.is_point:
            continue
        f = np.sort(e.facets, axis=1).astype(np.int64)
        key = np.zeros(len(f), dtype=np.int64)
        for col in range(f.shape[1]):
            key = key * n_nodes + f[:, col]
        keys.append(np.unique(key))
        owners.append(np.full(len(keys[-1]), k))
    if keys:
        all_keys, all_owners = np.concatenate(keys), np.concatenate(owners)
        unique, counts = np.unique(all_keys, return_counts=True)
        shared = unique[counts > 1]
        if len(shared):
            who = sorted({electrodes[i].name for i in all_owners[np.isin(all_keys, shared)]})
            raise MeshContractError(
                f"{where}: electrodes {', '.join(who)} share {len(shared)} boundary facets (two electrode groups "
                "on the same curve or surface); each facet may belong to one electrode only"
            )
    nodes = [e.node for e in electrodes if e.is_point]
    if len(nodes) != len(set(nodes)):
        raise MeshContractError(f"{where}: two point electrodes are on the same node")


def warn_islands(elements: np.ndarray, electrodes, n_nodes: int, where: str) -> int:
    """Warn about connected parts of the mesh that touch no electrode; returns their number.

    Such a part floats: no current reaches it, its potential is undetermined,
    and the system matrix is singular there.
    """
    import scipy.sparse as sp
    from scipy.sparse.csgraph import connected_components

    k = elements.shape[1]
    # Join every node of an element to its first node: the components of this
    # graph are the connected parts of the mesh.
    rows = np.repeat(elements[:, 0], k - 1)
    cols = elements[:, 1:].ravel()
    graph = sp.coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n_nodes, n_nodes))
    _, label = connected_components(graph, directed=False)
    used = np.zeros(n_nodes, dtype=bool)
    used[elements.ravel()] = True
    parts = np.unique(label[used])
    if len(parts) <= 1:
        return 0
    touched = set()
    for e in electrodes:
        nodes = [e.node] if e.is_point else np.unique(e.facets)
        touched.update(label[nodes].tolist())
    floating = [p for p in parts if p not in touched]
    if floating:
        sizes = [int(np.sum(label[elements[:, 0]] == p)) for p in floating]
        warn(
            f"{where}: {len(floating)} part(s) of the mesh touch no electrode ({sizes} elements); their "
            "potential is undetermined and the forward solve will fail or be meaningless there",
            RuntimeWarning,
        )
    return len(floating)


def check_imported(points: np.ndarray, elements: np.ndarray, electrodes, where: str) -> None:
    """All the checks above that need the built electrodes (called by ``EITMesh``)."""
    check_duplicates(elements, where)
    check_electrode_overlap(electrodes, len(points), where)
    warn_islands(elements, electrodes, len(points), where)
