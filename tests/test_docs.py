"""The documentation covers the package: every public module is in the API reference, every how-to page is linked."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_public_module_is_in_the_api_reference():
    """docs/api.rst lists the top-level modules; autosummary recurses into subpackages from there."""
    listed = set(re.findall(r"^\s+femeit\.(\w+)\s*$", (ROOT / "docs" / "api.rst").read_text(), re.M))
    package = ROOT / "femeit"
    packages = {p.name for p in package.iterdir() if (p / "__init__.py").exists()}
    public = {p.stem for p in package.glob("*.py")} | packages
    public = {name for name in public if not name.startswith("_")}
    assert public == listed, f"missing from docs/api.rst: {sorted(public - listed)}; unknown: {sorted(listed - public)}"


def test_every_howto_page_is_in_the_howto_toctree_and_every_gallery_script_is_quick_aware():
    howto = ROOT / "docs" / "howto"
    index = (howto / "index.md").read_text()
    pages = {p.stem for p in howto.glob("*.md")} - {"index"}
    assert pages and all(re.search(rf"^{page}$", index, re.M) for page in pages)
    scripts = sorted((ROOT / "examples" / "gallery").glob("plot_*.py"))
    assert len(scripts) >= 8
    for script in scripts:
        text = script.read_text()
        assert text.startswith('"""\n'), f"{script.name}: sphinx-gallery needs a docstring title first"
        assert "plt.subplots" in text, f"{script.name}: every gallery example draws a figure"
