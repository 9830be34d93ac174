"""Convert geometry specs to and from plain dictionaries and TOML files.

The dictionary form is what a TOML file holds: a ``kind`` key naming the spec
type, the spec's fields, and lists of tables for rings and inclusions.  Unknown
keys are rejected with a message naming them, so a typo never silently falls
back to a default.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import tomllib
from pathlib import Path
from typing import Any

from femeit.errors import FemeitError, SpecError
from femeit.geometry.kinds import SPEC_TYPES, Spec
from femeit.geometry.outline import Outline
from femeit.geometry.outline_specs import (
    EllipseInclusion,
    EllipsoidInclusion,
    OutlineRing,
    PolygonInclusion,
    PrismInclusion,
)
from femeit.geometry.specs import (
    BallRing,
    BoxInclusion,
    CircleInclusion,
    CylinderInclusion,
    ElectrodeRing,
    SphereInclusion,
)

_INCLUSION_TYPES: dict[str, type] = {
    "circle": CircleInclusion,
    "sphere": SphereInclusion,
    "cylinder": CylinderInclusion,
    "box": BoxInclusion,
    "ellipse": EllipseInclusion,
    "polygon": PolygonInclusion,
    "ellipsoid": EllipsoidInclusion,
    "prism": PrismInclusion,
}
_INCLUSION_NAMES = {cls: name for name, cls in _INCLUSION_TYPES.items()}


def _build(cls: type, table: Any, where: str) -> Any:
    """Instantiate dataclass ``cls`` from ``table``, naming unknown or missing keys."""
    if not isinstance(table, dict):
        raise SpecError(f"{where} must be a table of keys, got {type(table).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(table) - set(fields))
    if unknown:
        raise SpecError(f"{where}: unknown key(s) {unknown}; valid keys are {sorted(fields)}")
    missing = [
        name
        for name, f in fields.items()
        if name not in table and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise SpecError(f"{where}: missing required key(s) {missing}")
    try:
        return cls(**table)
    except SpecError:
        raise
    except (TypeError, ValueError, OverflowError, ArithmeticError) as exc:
        # A value of the wrong type that slipped past a field check (a list
        # where a number belongs...): name the table and what went wrong.
        raise SpecError(f"{where}: a value has the wrong type or range ({exc}); got {table!r}") from None


def _inclusion(table: Any, where: str, default_type: str) -> Any:
    if not isinstance(table, dict):
        raise SpecError(f"{where} must be a table of keys")
    table = dict(table)
    kind = table.pop("type", default_type)
    if not isinstance(kind, str) or kind not in _INCLUSION_TYPES:
        raise SpecError(f"{where}.type must be one of {sorted(_INCLUSION_TYPES)}, got {kind!r}")
    return _build(_INCLUSION_TYPES[kind], table, where)


def _list(value: Any, where: str) -> list:
    if not isinstance(value, list | tuple):
        raise SpecError(f"{where} must be a list of tables ([[...]] in TOML)")
    return list(value)


def spec_from_dict(data: dict[str, Any]) -> Spec:
    """Build a geometry spec from its dictionary (TOML) form.

    Parameters
    ----------
    data : dict
        Must hold ``kind`` (``circle``, ``cylinder``, ``halfspace_line``,
        ``ball``, ``contour`` or ``extruded``) and any of that spec's fields.
        ``outline`` is a table (``shape`` = ``ellipse``, ``polygon`` or
        ``spline``, with ``a``, ``b`` or ``points``); ``rings`` and
        ``inclusions`` are lists of tables; an inclusion table may hold
        ``type`` (``circle``, ``ellipse``, ``polygon`` in 2D; ``sphere``,
        ``cylinder``, ``box``, ``ellipsoid``, ``prism`` in 3D; default
        ``circle`` in 2D and ``sphere`` in 3D).

    Returns
    -------
    Spec
        The validated spec.

    Raises
    ------
    SpecError
        On an unknown ``kind``, an unknown or missing key, or an invalid value.
    """
    if not isinstance(data, dict):
        raise SpecError(f"a spec must be a table of keys, got {type(data).__name__}")
    data = dict(data)
    kind = data.pop("kind", None)
    if not isinstance(kind, str) or kind not in SPEC_TYPES:
        raise SpecError(f"spec key 'kind' must be one of {sorted(SPEC_TYPES)}, got {kind!r}")
    cls = SPEC_TYPES[kind]
    dim = data.get("dim", getattr(cls, "dim", 3))
    if "outline" in data:
        data["outline"] = _build(Outline, data["outline"], f"{kind}.outline")
    if "rings" in data:
        ring_cls = {"ball": BallRing, "contour": OutlineRing, "extruded": OutlineRing}.get(kind, ElectrodeRing)
        data["rings"] = tuple(
            _build(ring_cls, r, f"{kind}.rings[{i}]") for i, r in enumerate(_list(data["rings"], f"{kind}.rings"))
        )
    if "inclusions" in data:
        default = "circle" if dim == 2 else "sphere"
        data["inclusions"] = tuple(
            _inclusion(t, f"{kind}.inclusions[{i}]", default)
            for i, t in enumerate(_list(data["inclusions"], f"{kind}.inclusions"))
        )
    return _build(cls, data, kind)


def spec_to_dict(spec: Spec) -> dict[str, Any]:
    """The dictionary (TOML) form of ``spec``; :func:`spec_from_dict` inverts it."""
    out: dict[str, Any] = {"kind": spec.kind}
    for f in dataclasses.fields(spec):
        value = getattr(spec, f.name)
        if f.name == "rings":
            value = [dataclasses.asdict(r) for r in value]
        elif f.name == "inclusions":
            value = [{"type": _INCLUSION_NAMES[type(inc)], **_plain(dataclasses.asdict(inc))} for inc in value]
        elif f.name == "outline":
            value = {k: v for k, v in _plain(dataclasses.asdict(value)).items() if v not in ((), [])}
        if value is not None:
            out[f.name] = value
    return out


def _plain(table: dict[str, Any]) -> dict[str, Any]:
    """Point lists as lists of lists, as TOML writes and reads them."""
    return {k: [list(p) for p in v] if k == "points" else v for k, v in table.items()}


def read_toml(path: str | Path, what: str, error: type[FemeitError] = FemeitError) -> dict[str, Any]:
    """Parse a TOML file; a missing file or a syntax error raises ``error`` naming ``what`` and the path."""
    path = Path(path)
    if not path.is_file():
        raise error(f"{what} not found: {path}")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{what} {path} is not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise error(f"{what} {path} is not a UTF-8 text file (is it a binary file?)") from None
    except OSError as exc:
        raise error(f"cannot read the {what} {path}: {exc.strerror or exc}") from None


def load_spec(path: str | Path) -> Spec:
    """Read a geometry spec from a TOML file.

    Parameters
    ----------
    path : str or Path
        A ``.toml`` file (see ``geometries/`` for examples).

    Raises
    ------
    SpecError
        If the file is missing, is not valid TOML, or describes an invalid spec.
    """
    data = read_toml(path, "spec file", SpecError)
    try:
        return spec_from_dict(data)
    except SpecError as exc:
        raise SpecError(f"{path}: {exc}") from None


def spec_digest(spec: Spec) -> str:
    """SHA-256 of the canonical JSON form of ``spec`` (the mesh-cache key)."""
    text = json.dumps(spec_to_dict(spec), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()
