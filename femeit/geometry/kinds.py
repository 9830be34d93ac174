"""Every kind of geometry spec, by its ``kind`` name (the single list used by TOML, the builders and the cache)."""

from __future__ import annotations

from femeit.geometry.outline_specs import ContourSpec, ExtrudedSpec
from femeit.geometry.specs import BallSpec, CircleSpec, CylinderSpec, HalfspaceLineSpec

Spec = CircleSpec | CylinderSpec | HalfspaceLineSpec | BallSpec | ContourSpec | ExtrudedSpec
SPEC_TYPES: dict[str, type] = {
    cls.kind: cls for cls in (CircleSpec, CylinderSpec, HalfspaceLineSpec, BallSpec, ContourSpec, ExtrudedSpec)
}
