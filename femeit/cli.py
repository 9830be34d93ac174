"""The ``femeit`` command line: parses arguments and calls the public API, nothing more."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Sequence
from pathlib import Path

from femeit.errors import FemeitError


def _load_mesh(args: argparse.Namespace):
    from femeit.geometry.spec_io import load_spec
    from femeit.mesh import EITMesh

    path = Path(args.spec)
    if path.suffix in (".msh", ".geo"):
        if args.h is not None or args.h_electrode is not None:
            raise FemeitError("--h and --h-electrode apply to TOML specs, not to .msh/.geo files")
        return EITMesh.from_msh(path)
    spec = load_spec(path)
    overrides = {}
    for option, value in (("h", args.h), ("h_electrode", args.h_electrode)):
        if value is None:
            continue
        if option == "h" and spec.kind == "halfspace_line":
            option = "h_survey"
        if option not in {f.name for f in dataclasses.fields(spec)}:
            raise FemeitError(f"--{option.replace('_', '-')} does not apply to a {spec.kind} spec")
        overrides[option] = value
    if overrides:
        spec = dataclasses.replace(spec, **overrides)
    return EITMesh.from_spec(spec, cache=not args.no_cache)


def _cmd_mesh(args: argparse.Namespace) -> int:
    mesh = _load_mesh(args)
    print(mesh.summary())
    if args.output:
        written = mesh.write(args.output)
        print(f"written: {written}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``femeit`` command."""
    parser = argparse.ArgumentParser(prog="femeit", description="Finite-element EIT/ERT modelling.")
    sub = parser.add_subparsers(dest="command", required=True)
    mesh = sub.add_parser("mesh", help="mesh a geometry spec (TOML) or read a .geo/.msh, print a summary")
    mesh.add_argument("spec", help="a TOML spec (see geometries/), or a gmsh .geo/.msh file")
    mesh.add_argument("-o", "--output", help="write the mesh (.msh through gmsh; .vtu, .xdmf... through meshio)")
    mesh.add_argument("--h", type=float, help="bulk element size, m (overrides the spec)")
    mesh.add_argument("--h-electrode", type=float, help="element size at the electrodes, m (overrides the spec)")
    mesh.add_argument("--no-cache", action="store_true", help="always mesh with gmsh, do not use the mesh cache")
    mesh.set_defaults(func=_cmd_mesh)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``femeit`` console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except FemeitError as exc:
        print(f"femeit: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
