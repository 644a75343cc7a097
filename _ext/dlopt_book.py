"""Small Sphinx fixes for the dlopt-lab website (loaded through _config.yml's local_extensions).

* Some of Jupyter Book 1's extensions (sphinx-thebe, sphinx-togglebutton) register their inline
  configuration scripts twice under Sphinx 7.4 (the second ``const THEBE_JS_URL`` is a
  JavaScript error on every page), and MathJax is added twice (once by Sphinx, once by
  myst-nb). We keep the first copy of each script file and of each inline script.
"""

from __future__ import annotations

from typing import Any


def _script_key(js: Any) -> tuple[str, str]:
    """A file is the same script whatever its attributes; an inline script is its body."""
    filename = getattr(js, "filename", None) or ""
    if filename:
        return "file", str(filename)
    return "inline", str((getattr(js, "attributes", {}) or {}).get("body", ""))


def _dedupe_scripts(app: Any, pagename: str, templatename: str, context: dict, doctree: Any) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    seen: set[tuple[str, str]] = set()
    unique = []
    for js in scripts:
        key = _script_key(js)
        if key not in seen:
            seen.add(key)
            unique.append(js)
    scripts[:] = unique  # in place: the builder keeps appending page scripts to this list


def setup(app: Any) -> dict[str, Any]:
    app.connect("html-page-context", _dedupe_scripts, priority=999)  # after every handler that adds scripts
    return {"parallel_read_safe": True, "parallel_write_safe": True}
