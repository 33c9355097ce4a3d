"""Sphinx configuration: ``bash tools/docs.sh`` builds the HTML with warnings as errors."""

import os
import re

import sknegsample

# The bundled model and the data sets load offline; nothing is downloaded.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

project = "sknegsample"
author = "The sknegsample developers"
copyright = "The sknegsample developers"
release = sknegsample.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
    "myst_parser",
    "matplotlib.sphinxext.plot_directive",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build"]
root_doc = "index"

# API reference: numpydoc renders the docstrings; no stub pages are generated.
autosummary_generate = False
autodoc_default_options = {"members": False}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False

# Figures in the guide are drawn at build time from the code shown.
plot_include_source = True
plot_html_show_source_link = False
plot_html_show_formats = False
plot_formats = [("png", 100)]
plot_rcparams = {"figure.figsize": (6.4, 4.0)}

myst_heading_anchors = 3

html_theme = "pydata_sphinx_theme"
html_title = f"sknegsample {release}"
# The benchmark figures live in _static (written by benchmarks/).
_STATIC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_static")
html_static_path = ["_static"] if os.path.isdir(_STATIC) else []
html_theme_options = {"show_toc_level": 2, "navigation_with_keys": False}


# Docstrings write shapes as scikit-learn does, "ndarray of shape
# (n_pairs_, n_negatives)": in plain reST a word ending in "_" is a link
# reference to a target that does not exist. Escape that underscore outside
# literals, after numpydoc has turned the docstring into reST.
_LITERAL = re.compile(r"(``.+?``|:\w+:`[^`]*`|`[^`]*`)")
_TRAILING_UNDERSCORE = re.compile(r"\b([A-Za-z]\w*?)_(?=[\s,.;:)\]]|$)")


def _escape_trailing_underscores(app, what, name, obj, options, lines):
    for i, line in enumerate(lines):
        parts = _LITERAL.split(line)
        parts[::2] = [_TRAILING_UNDERSCORE.sub(r"\1\\_", part) for part in parts[::2]]
        lines[i] = "".join(parts)


def setup(app):
    app.connect("autodoc-process-docstring", _escape_trailing_underscores, priority=600)
