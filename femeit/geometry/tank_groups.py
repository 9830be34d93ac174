"""Imprint electrode patches and inclusions on a 3D tank solid and name the pieces.

The cylinder and the extruded-outline builders both cut one patch per
electrode out of the tank wall and one solid per inclusion, then need the
same bookkeeping: a boolean fragment that makes the mesh conformal to every
edge, the translation of the patch and inclusion tags through the fragment
map, and the physical groups of the mesh contract (``domain``, the inclusions'
regions, ``e01``, ``e02``, ...).
"""

from __future__ import annotations

import gmsh

from femeit.geometry.specs import inclusion_names


def fragment_and_name(
    tank: int, patches: list[list[tuple[int, int]]], inclusions: list[tuple[int, int]], spec_name: str, spec_inclusions
) -> tuple[list[list[int]], list[list[int]]]:
    """Fragment the tank with its electrode patches and inclusions, and add the physical groups.

    Parameters
    ----------
    tank : int
        OCC tag of the tank volume.
    patches : list of list of (dim, tag)
        Per electrode, the wall surfaces that make its patch (a patch cut by
        the wall's seam is two surfaces in one group).
    inclusions : list of (3, tag)
        One OCC solid per inclusion, in the order of ``spec_inclusions``.
    spec_name : str
        The spec's class name, for the inclusion region names and messages.
    spec_inclusions : sequence
        The spec's inclusion dataclasses (their ``name`` fields name the regions).

    Returns
    -------
    electrode_surfaces : list of list of int
        Per electrode, the surface tags after the fragment.
    inclusion_volumes : list of list of int
        Per inclusion, the volume tags after the fragment.
    """
    occ = gmsh.model.occ
    flat = [p for ps in patches for p in ps]
    _, frag_map = occ.fragment([(3, tank)], flat + inclusions)
    occ.synchronize()
    # OCC reports the pieces of each input in input order: translate the
    # patch and inclusion tags through that map.
    new_tag = {flat[i]: [t for _, t in frag_map[1 + i]] for i in range(len(flat))}
    electrode_surfaces = [sorted({t for p in ps for t in new_tag[p]}) for ps in patches]
    inclusion_volumes = [[t for _, t in frag_map[1 + len(flat) + i]] for i in range(len(inclusions))]
    background = sorted({t for _, t in gmsh.model.getEntities(3)} - {t for vs in inclusion_volumes for t in vs})

    gmsh.model.addPhysicalGroup(3, background, name="domain")
    for name, vols in zip(inclusion_names(spec_name, spec_inclusions), inclusion_volumes, strict=True):
        gmsh.model.addPhysicalGroup(3, vols, name=name)
    for k, surfaces in enumerate(electrode_surfaces):
        gmsh.model.addPhysicalGroup(2, surfaces, name=f"e{k + 1:02d}")
    return electrode_surfaces, inclusion_volumes
