"""Sphinx configuration of the femeit documentation.

Build:  python -m sphinx -W docs docs/_build   (warnings are errors)
Quick:  FEMEIT_DOCS_QUICK=1 python -m sphinx -W docs docs/_build   (small meshes in the gallery; what CI runs)
"""

import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("MPLBACKEND", "Agg")  # the gallery's figures, on machines without a display

import femeit  # noqa: E402

project = "femeit"
author = "the femeit developers"
copyright = "2026, the femeit developers"
version = release = getattr(femeit, "__version__", "0.1.0")

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "img/README.md", "gallery/*.ipynb", "gallery/*.py", "gallery/*.md5", "**.zip"]
templates_path = ["_templates"]
suppress_warnings = ["myst.header"]
myst_heading_anchors = 3

autosummary_generate = True
autosummary_imported_members = False
autodoc_default_options = {}
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_validation_checks = set()
numpydoc_xref_param_type = False

html_theme = "pydata_sphinx_theme"
html_title = "femeit"
html_theme_options = {"show_toc_level": 2, "navigation_with_keys": False}
html_static_path = []

# The gallery: every script of examples/gallery is run and its figures shown.
# FEMEIT_DOCS_QUICK=1 makes each script use its small meshes (CI's docs step).
QUICK = os.environ.get("FEMEIT_DOCS_QUICK", "") not in ("", "0")
sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples" / "gallery"),
    "gallery_dirs": "gallery",
    "filename_pattern": r"/plot_",
    "download_all_examples": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
    "abort_on_example_error": True,
    "image_scrapers": ("matplotlib",),
    "matplotlib_animations": False,
    "show_memory": False,
    "min_reported_time": 1,
}

# The docstrings write absolute values and norms in plain text (|R|, |x - c|).
# reStructuredText reads |name| as a substitution: escape bars outside literals.
_LITERAL = re.compile(r"(``.*?``|`[^`]*`)")


def _escape_bars(app, what, name, obj, options, lines):
    for i, line in enumerate(lines):
        if "|" not in line or line.lstrip().startswith(("| ", "+-", "+=")):  # a line block or a grid table
            continue
        parts = _LITERAL.split(line)
        lines[i] = "".join(p if p.startswith("`") else p.replace("|", r"\|") for p in parts)


def setup(app):
    app.connect("autodoc-process-docstring", _escape_bars)
