"""Show a function's source in a notebook, where the code is the lesson."""

from __future__ import annotations

import ast
import inspect
import textwrap
from typing import Any

__all__ = ["show_source"]


def show_source(obj: Any, *, docstring: bool = False) -> Any:
    """The source of ``obj`` as a syntax-highlighted IPython ``Code`` object.

    With ``docstring=False`` (the default) the docstring is dropped, so what remains is the
    code itself; the docstring, with its math, is in the API reference and in the chapter.
    """
    try:
        src = textwrap.dedent(inspect.getsource(obj))
    except (TypeError, OSError) as exc:
        raise ValueError(f"obj must be a function or class defined in a source file: {exc}") from None
    if not docstring:
        src = _strip_docstring(src)
    from IPython.display import Code

    return Code(src, language="python")


def _strip_docstring(src: str) -> str:
    """Remove the docstring of the first function or class in ``src``, keeping everything else."""
    tree = ast.parse(src)
    node = tree.body[0]
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return src
    first = node.body[0]
    if not (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
            and isinstance(first.value.value, str)):
        return src
    lines = src.splitlines(keepends=True)
    # ast line numbers are 1-based and end_lineno is inclusive
    return "".join(lines[: first.lineno - 1] + lines[first.end_lineno:])
