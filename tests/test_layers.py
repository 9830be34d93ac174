"""The package's layers (docs/architecture.md): no module imports upward, and there is no import cycle.

Every ``import`` / ``from ... import`` of a ``femeit`` module counts, at module
level or inside a function (a lazy import is still a dependency), and so do
type-checking-only imports.
"""

import ast
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "femeit"

# Bottom to top; a module may import from its own layer or any layer below.
LAYERS = (
    ("errors", "_checks", "limits", "outputs"),
    ("mesh",),
    ("geometry",),
    ("protocol", "analytic"),
    ("forward",),
    ("grids", "phantom", "noise", "noise_model"),
    ("inverse",),
    ("metrics", "viz"),
    ("measured", "ktc2023", "ert"),
    ("datasets", "learn"),
    ("cli", "cli_args", "validate", "__main__", "__init__", "studies"),
)
LEVEL = {name: i for i, names in enumerate(LAYERS) for name in names}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imports_of(path: Path, name: str | None = None) -> set[str]:
    """Every femeit module ``path`` imports (absolute names), wherever the import statement is."""
    name = name or module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative import
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            # ``from femeit import metrics`` imports the module femeit.metrics (the
            # package's __init__ runs for any submodule import, so it is no edge of its own).
            folder = PACKAGE.parent / target.replace(".", "/")
            subs = {f"{target}.{a.name}" for a in node.names if existing(f"{target}.{a.name}") == f"{target}.{a.name}"}
            found |= subs
            if not folder.is_dir() or len(subs) < len(node.names):
                found.add(target)
    return {m for m in found if m == "femeit" or m.startswith("femeit.")}


def existing(module: str) -> str | None:
    """The longest prefix of ``module`` that is a femeit module or package (drops imported attributes)."""
    parts = module.split(".")
    while parts:
        path = PACKAGE.parent / "/".join(parts)
        if path.with_suffix(".py").is_file() or (path / "__init__.py").is_file():
            return ".".join(parts)
        parts = parts[:-1]
    return None


def layer_of(module: str) -> int:
    """femeit.X.Y -> the layer of X; the package itself (``import femeit``) is the facade on top."""
    parts = module.split(".")
    return LEVEL["__init__"] if len(parts) == 1 else LEVEL[parts[1]]


def graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    out = {}
    for path in sorted(package.rglob("*.py")):
        out[module_name(path)] = {m for m in (existing(i) for i in imports_of(path)) if m} - {module_name(path)}
    return out


def upward_imports(edges: dict[str, set[str]]) -> list[str]:
    bad = []
    for module, targets in edges.items():
        for target in targets:
            if layer_of(target) > layer_of(module):
                bad.append(f"{module} (layer {layer_of(module)}) imports {target} (layer {layer_of(target)})")
    return sorted(bad)


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), i.e. import cycles.

    A package's ``__init__`` importing its own submodules (and those importing
    siblings through the package) is not counted: edges into a package's own
    ``__init__`` from inside the package are dropped.
    """
    def inside(a: str, b: str) -> bool:
        return a.startswith(b + ".")

    adj = {m: {t for t in ts if t in edges and not inside(m, t)} for m, ts in edges.items()}
    index, low, on, stack, out, counter = {}, {}, set(), [], [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in adj[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(adj):
        if v not in index:
            visit(v)
    return out


def test_every_top_level_module_has_a_layer():
    names = {p.stem for p in PACKAGE.glob("*.py")} | {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert names <= set(LEVEL), f"add to LAYERS (and docs/architecture.md): {sorted(names - set(LEVEL))}"


def test_no_module_imports_upward():
    assert upward_imports(graph()) == []


def test_no_import_cycle():
    assert cycles(graph()) == []


def test_the_checks_catch_an_upward_import_and_a_cycle(tmp_path):
    """A deliberately added upward import (mesh -> forward) and a cycle are found."""
    edges = graph()
    edges["femeit.mesh.eitmesh"] = edges["femeit.mesh.eitmesh"] | {"femeit.forward.model"}
    assert upward_imports(edges) == ["femeit.mesh.eitmesh (layer 1) imports femeit.forward.model (layer 4)"]
    assert any("femeit.mesh.eitmesh" in c and "femeit.forward.model" in c for c in cycles(edges))
    # And from source text: a lazy import inside a function of a mesh module is an upward edge.
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from femeit.forward import ForwardModel\n    from . import eitmesh\n")
    found = imports_of(bad, name="femeit.mesh.bad")
    assert found == {"femeit.forward", "femeit.mesh.eitmesh"}
    edges["femeit.mesh.bad"] = {existing(m) for m in found}
    assert "femeit.mesh.bad (layer 1) imports femeit.forward (layer 4)" in upward_imports(edges)


def test_the_wheel_ships_every_subpackage():
    """pyproject lists packages explicitly (femeit.studies is validation/); none may be forgotten."""
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {module_name(p.parent) for p in PACKAGE.rglob("__init__.py")}
    assert found | {"femeit.studies"} == listed


@pytest.mark.parametrize("module", ["femeit.mesh", "femeit.geometry", "femeit.forward"])
def test_lower_layers_import_alone(module):
    """Importing a low layer does not drag in higher ones (checked in a fresh interpreter)."""
    import subprocess
    import sys

    code = (
        f"import sys, {module}; "
        "higher = [m for m in sys.modules if m.startswith(('femeit.inverse', 'femeit.datasets', 'femeit.learn', "
        "'femeit.cli', 'femeit.measured', 'femeit.ktc2023'))]; print(higher); assert not higher"
    )
    env = {"PYTHONPATH": str(ROOT), "PATH": ""}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=ROOT)


def test_no_reference_to_files_users_do_not_have():
    """Docstrings cite papers, never the design notes or the seed texts of the source repository."""
    forbidden = ("../shared", "shared/seeds", "seeds/0", "ALGORITHMS.md", "DESIGN.md")
    offenders = []
    for folder in ("femeit", "validation"):  # validation/ ships as femeit.studies
        for path in (ROOT / folder).rglob("*.py"):
            text = path.read_text()
            offenders += [f"{path.relative_to(ROOT)}: {word}" for word in forbidden if word in text]
    assert offenders == []


def test_import_femeit_does_not_load_gmsh_or_matplotlib():
    """As the package docstring promises: gmsh only when a mesh is built or read, figures only when drawn."""
    import subprocess
    import sys

    code = "import sys, femeit; bad = [m for m in ('gmsh', 'matplotlib', 'pyvista', 'torch') if m in sys.modules]; "
    code += "print(bad); assert not bad"
    subprocess.run([sys.executable, "-c", code], check=True, env={"PYTHONPATH": str(ROOT), "PATH": ""}, cwd=ROOT)


def test_no_private_name_is_imported_from_another_module():
    """A helper used by two modules is public (documented) or lives in femeit._checks."""
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("femeit"):
                private = [a.name for a in node.names if a.name.startswith("_") and not a.name.startswith("__")]
                offenders += [f"{module_name(path)}: from {node.module} import {name}" for name in private]
    assert offenders == []
