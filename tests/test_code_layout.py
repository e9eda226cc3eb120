"""Size limits of the library's code: no module of ``neurolearn/`` over 800 lines and no
function over 120 lines (docstring included), so that each piece can be read whole."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "neurolearn"
MAX_MODULE_LINES = 800
MAX_FUNCTION_LINES = 120


def _oversize() -> dict:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        source = path.read_text(encoding="utf-8")
        n = len(source.splitlines())
        if n > MAX_MODULE_LINES:
            found[rel] = n
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    found[f"{rel}:{node.name}"] = length
    return found


def test_modules_and_functions_within_size_limits():
    found = _oversize()
    assert not found, (
        f"over the size limits ({MAX_MODULE_LINES} lines a module, "
        f"{MAX_FUNCTION_LINES} a function): {found}"
    )
