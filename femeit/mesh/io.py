"""Reading and writing meshes: gmsh for ``.msh``/``.geo``, meshio for everything else."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from femeit.errors import FemeitError, MeshContractError
from femeit.mesh.checks import check_element_types
from femeit.mesh.eitmesh import EITMesh

if TYPE_CHECKING:
    from femeit.mesh.gmsh_session import MeshGroups


def read_mesh(path: str | Path) -> EITMesh:
    """Read a gmsh ``.msh`` file, or mesh a ``.geo`` file, that follows the physical-group contract.

    Parameters
    ----------
    path : str or Path
        A ``.msh`` file (any version gmsh reads) or a ``.geo`` script (meshed in
        its own dimension with the options it sets).

    Returns
    -------
    EITMesh
        ``info`` records the source file and the seconds it took.
    """
    start = time.perf_counter()
    groups = read_gmsh_file(path)
    mesh = EITMesh.from_groups(groups, where=str(path))
    mesh.info.update(source=str(path), cache_hit=False, seconds=time.perf_counter() - start)
    return mesh


def read_gmsh_file(path: str | Path) -> MeshGroups:
    """Open a ``.msh`` (or mesh a ``.geo``) with gmsh and return its physical groups."""
    import gmsh  # imported when a mesh file is read, not with femeit

    from femeit.mesh.gmsh_session import SIMPLEX_TYPE, extract_groups, generate, gmsh_session

    path = Path(path)
    if not path.is_file():
        raise FemeitError(f"mesh file not found: {path}")
    with gmsh_session(path.stem):
        try:
            gmsh.open(str(path))
        except Exception as exc:
            raise FemeitError(f"gmsh could not read {path}: {exc}") from None
        dim = gmsh.model.getDimension()
        if dim not in (2, 3):
            raise MeshContractError(f"{path}: the model is {dim}-dimensional; femeit needs 2D or 3D")
        check_element_types(_element_types(dim), dim, str(path))
        if len(gmsh.model.mesh.getElementsByType(SIMPLEX_TYPE[dim])[0]) == 0:
            if path.suffix == ".msh":
                raise MeshContractError(f"{path}: no {'triangles' if dim == 2 else 'tetrahedra'} in the file")
            generate(dim, str(path))
        check_element_types(_element_types(dim), dim, str(path))
        if not gmsh.model.getPhysicalGroups(dim):
            raise MeshContractError(f"{path}: no {dim}D physical groups; the contract needs one named 'domain'")
        return extract_groups(dim)


def _element_types(dim: int) -> dict[int, list[tuple[int, str, int]]]:
    """Element types present in the open gmsh model, by dimension: (type, name, count)."""
    import gmsh

    out: dict[int, list[tuple[int, str, int]]] = {}
    for d in (dim, dim - 1):
        for gtype in gmsh.model.mesh.getElementTypes(d):
            name = gmsh.model.mesh.getElementProperties(gtype)[0]
            count = len(gmsh.model.mesh.getElementsByType(gtype)[0])
            out.setdefault(d, []).append((int(gtype), str(name), count))
    return out


def write_mesh(mesh: EITMesh, path: str | Path) -> Path:
    """Write a mesh: ``.msh`` through gmsh, anything else meshio writes (``.vtu``, ``.xdmf``...).

    The ``.msh`` file keeps the physical-group contract (``domain``,
    ``inclusion_*``, ``e01``..), so :func:`read_mesh` reads back the same mesh.
    Other formats carry integer cell data ``region`` (index into
    ``region_names``, -1 on electrode facets) and ``electrode`` (0-based
    electrode index, -1 on elements).

    Parameters
    ----------
    mesh : EITMesh
    path : str or Path
        The file to write; its suffix picks the format.

    Returns
    -------
    Path
        The file written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".msh":
        _write_msh(mesh, path)
    else:
        _write_meshio(mesh, path)
    return path


def _write_msh(mesh: EITMesh, path: Path) -> None:
    import gmsh

    from femeit.mesh.gmsh_session import SIMPLEX_TYPE, gmsh_session

    dim = mesh.dim
    with gmsh_session(path.stem):
        node_tags = np.arange(1, mesh.n_nodes + 1)
        coords = np.zeros((mesh.n_nodes, 3))
        coords[:, :dim] = mesh.points
        element_tag = 1
        for r, name in enumerate(mesh.region_names):
            entity = gmsh.model.addDiscreteEntity(dim, r + 1)
            if r == 0:
                gmsh.model.mesh.addNodes(dim, entity, node_tags, coords.ravel())
            elems = mesh.elements[mesh.element_region == r]
            tags = np.arange(element_tag, element_tag + len(elems))
            element_tag += len(elems)
            gmsh.model.mesh.addElementsByType(entity, SIMPLEX_TYPE[dim], tags, (elems + 1).ravel())
            gmsh.model.addPhysicalGroup(dim, [entity], name=name)
        for k, e in enumerate(mesh.electrodes):
            if e.is_point:
                entity = gmsh.model.addDiscreteEntity(0, k + 1)
                gmsh.model.mesh.addElementsByType(entity, SIMPLEX_TYPE[0], [element_tag], [e.node + 1])
                element_tag += 1
                gmsh.model.addPhysicalGroup(0, [entity], name=e.name)
            else:
                entity = gmsh.model.addDiscreteEntity(dim - 1, k + 1)
                tags = np.arange(element_tag, element_tag + len(e.facets))
                element_tag += len(e.facets)
                gmsh.model.mesh.addElementsByType(entity, SIMPLEX_TYPE[dim - 1], tags, (e.facets + 1).ravel())
                gmsh.model.addPhysicalGroup(dim - 1, [entity], name=e.name)
        gmsh.option.setNumber("Mesh.MshFileVersion", 4.1)
        gmsh.option.setNumber("Mesh.SaveAll", 0)
        # Binary keeps coordinates bit-exact, so a written mesh reads back identical.
        gmsh.option.setNumber("Mesh.Binary", 1)
        try:
            gmsh.write(str(path))
        except Exception as exc:  # gmsh raises a bare Exception (e.g. an unwritable path)
            raise FemeitError(f"gmsh cannot write {path}: {exc}") from None


def _write_meshio(mesh: EITMesh, path: Path) -> None:
    import meshio

    points = np.zeros((mesh.n_nodes, 3))  # VTK and XDMF readers expect 3D points
    points[:, : mesh.dim] = mesh.points
    volume = "triangle" if mesh.dim == 2 else "tetra"
    facet = "line" if mesh.dim == 2 else "triangle"
    cells = [(volume, mesh.elements)]
    region = [mesh.element_region.astype(np.int32)]
    electrode = [np.full(mesh.n_elements, -1, dtype=np.int32)]
    facets = [e.facets for e in mesh.electrodes if not e.is_point]
    if facets:
        owners = np.concatenate([np.full(len(e.facets), k) for k, e in enumerate(mesh.electrodes) if not e.is_point])
        cells.append((facet, np.concatenate(facets)))
        region.append(np.full(len(owners), -1, dtype=np.int32))
        electrode.append(owners.astype(np.int32))
    point_electrodes = [k for k, e in enumerate(mesh.electrodes) if e.is_point]
    if point_electrodes:
        cells.append(("vertex", np.array([[mesh.electrodes[k].node] for k in point_electrodes])))
        region.append(np.full(len(point_electrodes), -1, dtype=np.int32))
        electrode.append(np.array(point_electrodes, dtype=np.int32))
    try:
        meshio.write(
            str(path),
            meshio.Mesh(points, cells, cell_data={"region": region, "electrode": electrode}),
        )
    except (KeyError, meshio.ReadError, meshio.WriteError) as exc:  # meshio reports an unknown suffix as ReadError
        raise FemeitError(f"meshio cannot write {path}: {exc}") from None
