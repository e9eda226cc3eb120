"""Sphinx configuration of the neurolearn documentation.

Build: ``sphinx-build -W -b html docs docs/_build/html`` (warnings are errors). The tutorials
are MyST notebooks executed by myst-nb; their outputs are cached by jupyter-cache in a folder
named by a hash of the neurolearn sources, so a change of the library re-executes them and an
unchanged library reuses the outputs (docstrings and comments are not part of the key). Generated pages (API reference from ``__all__``, the
training-config keys from the schema, the registries' tables, the results pages, the
benchmarks page and the gallery) are written by ``_ext/neurolearn_docs.py`` at the start of
every build.
"""

from __future__ import annotations

import ast
import hashlib
import os
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE / "_ext"))
sys.path.insert(0, str(ROOT))

# this process draws with Agg; the notebooks' kernels must not inherit MPLBACKEND (CI sets it
# to Agg), so that ipykernel's inline backend shows their figures in the pages
import matplotlib  # noqa: E402

import neurolearn  # noqa: E402

matplotlib.use("Agg")
os.environ.pop("MPLBACKEND", None)

project = "neurolearn"
author = "neurolearn developers"
copyright = "neurolearn developers, BSD-3-Clause"
release = version = neurolearn.__version__

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_copybutton",
    "neurolearn_docs",
]
templates_path = ["_templates"]
exclude_patterns = [
    "_build",
    "**.ipynb_checkpoints",
    "jupyter_execute",
    "_generated",  # included into other pages
    "results/data/**/*.md",  # included into the results pages
]
source_suffix = {".rst": "restructuredtext", ".md": "myst-nb"}
root_doc = "index"

# API reference: autosummary stubs for the names of every module's __all__ (neurolearn_docs
# writes the module pages); numpydoc renders the docstrings; types come from the docstrings.
autosummary_generate = True
autosummary_generate_overwrite = False
autosummary_ignore_module_all = False
autodoc_typehints = "none"
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
add_module_names = False

# MyST and the notebooks
myst_enable_extensions = ["dollarmath", "colon_fence", "deflist"]
myst_heading_anchors = 3
nb_execution_mode = os.environ.get("NEUROLEARN_DOCS_EXECUTE", "cache")
nb_execution_timeout = 900
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_merge_streams = True
# warnings of third-party packages (setuptools, Brian2's code generation) would clutter the
# tutorials' outputs; an error still fails the build
nb_output_stderr = "remove"


def _code_of(path: Path) -> bytes:
    """What a source file contributes to the cache key: for Python files the syntax tree
    without docstrings (comments are not in it), so that documentation edits keep the cache;
    other files (model files, registries, configs) as they are."""
    if path.suffix != ".py":
        return path.read_bytes()
    tree = ast.parse(path.read_bytes())
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(body, list)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            body[0] = ast.Pass()
    return ast.dump(tree).encode()


def _source_hash() -> str:
    """A hash of the code of the neurolearn package: the notebooks' execution cache is kept
    per hash, so any change of the library's code re-executes the tutorials (a change of a
    docstring or comment does not)."""
    digest = hashlib.sha256()
    package = ROOT / "neurolearn"
    for path in sorted(package.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            digest.update(path.relative_to(package).as_posix().encode())
            digest.update(_code_of(path))
    return digest.hexdigest()[:16]


_CACHE_ROOT = HERE / "_build" / ".jupyter_cache"
_CACHE = _CACHE_ROOT / _source_hash()
if _CACHE_ROOT.is_dir():  # caches of other versions of the library are of no further use
    for old in _CACHE_ROOT.iterdir():
        if old != _CACHE:
            shutil.rmtree(old, ignore_errors=True)
nb_execution_cache_path = str(_CACHE)

# HTML
html_theme = "pydata_sphinx_theme"
html_title = f"neurolearn {release}"
html_static_path = ["_static"]
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "header_links_before_dropdown": 8,
    "secondary_sidebar_items": ["page-toc"],
}
html_sidebars = {"**": ["sidebar-nav-bs"]}
html_last_updated_fmt = None
suppress_warnings = ["myst.header"]
