"""The house's layers (issue 24; the house style guide, "Which way the imports run").

Every deblur/*.py is parsed with ``ast`` and the project's import graph is built from its imports,
at the top of the file and inside functions alike. The test fails on any import circle among the
package's modules and on any import of a project module inside a function or class: when an
import wants to go up, the code is in the wrong room (move it, do not hide the import).

Not counted: imports under ``if TYPE_CHECKING:`` (types only, never run) and under
``if __name__ == "__main__":`` (a command's entry point: run as a script the module is
``__main__``, a different module from the one the package imports, so it cannot close a circle).
Optional third-party packages (onnxruntime, gradio, ...) are not project modules and may stay lazy.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "deblur"

# Function-level imports of project modules that are allowed, each with its reason. Keep it short.
ALLOWED_LAZY: dict[tuple[str, str], str] = {}


def _is_guard(node: ast.If) -> bool:
    """``if TYPE_CHECKING:`` or ``if __name__ == "__main__":``."""
    t = node.test
    if isinstance(t, ast.Name) and t.id == "TYPE_CHECKING":
        return True
    if isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING":
        return True
    return (isinstance(t, ast.Compare) and isinstance(t.left, ast.Name) and t.left.id == "__name__"
            and any(isinstance(c, ast.Constant) and c.value == "__main__" for c in t.comparators))


def _targets(node: ast.Import | ast.ImportFrom, modules: set[str]) -> list[str]:
    """The project modules (deblur/<name>.py stems; '__init__' for the package) an import names."""
    out: list[str] = []
    if isinstance(node, ast.Import):
        for alias in node.names:
            parts = alias.name.split(".")
            if parts[0] == "deblur":
                out.append(parts[1] if len(parts) > 1 else "__init__")
        return out
    parts = (node.module or "").split(".")
    if node.level == 1 or parts[0] == "deblur":
        sub = parts if node.level == 1 else parts[1:]
        if sub and sub[0]:
            out.append(sub[0])
        else:  # from deblur import x, y / from . import x: modules by name, else the package itself
            names = [a.name for a in node.names if a.name in modules]
            out.extend(names or ["__init__"])
    return out


def import_graph() -> tuple[dict[str, set[str]], list[tuple[str, str, int]]]:
    """(edges module -> modules it imports, [(module, imported, line) of function-level imports])."""
    modules = {p.stem for p in PACKAGE.glob("*.py")}
    edges: dict[str, set[str]] = {m: set() for m in modules}
    lazy: list[tuple[str, str, int]] = []

    def visit(module: str, node: ast.AST, nested: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_guard(child):
                for sub in child.orelse:
                    visit(module, sub, nested)
                continue
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                for target in _targets(child, modules):
                    edges[module].add(target)
                    if nested:
                        lazy.append((module, target, child.lineno))
                continue
            visit(module, child, nested or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef,
                                                                ast.Lambda)))

    for path in sorted(PACKAGE.glob("*.py")):
        visit(path.stem, ast.parse(path.read_text(), str(path)), False)
    for m in edges:
        edges[m].discard(m)
    return edges, lazy


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            connect(v)
    return found


def test_the_package_has_no_import_circle():
    edges, _ = import_graph()
    assert circles(edges) == [], "import circles among deblur/ modules: move the code to the right room"


def test_no_project_module_is_imported_inside_a_function():
    _, lazy = import_graph()
    hidden = [f"deblur/{m}.py:{line} imports deblur.{t}" for m, t, line in lazy if (m, t) not in ALLOWED_LAZY]
    assert hidden == [], "function-level imports of project modules:\n" + "\n".join(hidden)
    assert set(ALLOWED_LAZY) <= {(m, t) for m, t, _ in lazy}, "ALLOWED_LAZY lists an import that is gone"


def test_the_package_never_imports_the_evaluator_or_the_app():
    for path in PACKAGE.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            assert not any(n.split(".")[0] in ("eval", "app", "deblur_app") for n in names), path.name


def test_the_checker_sees_a_circle_and_a_hidden_import(tmp_path, monkeypatch):
    """The test itself can fail: a planted circle and a function-level import are both found."""
    pkg = tmp_path / "deblur"
    pkg.mkdir()
    (pkg / "a.py").write_text("from deblur.b import x\n")
    (pkg / "b.py").write_text("def f():\n    from deblur import a\n")
    (pkg / "c.py").write_text("if __name__ == '__main__':\n    from deblur.a import x\n")
    monkeypatch.setattr(__import__(__name__), "PACKAGE", pkg)
    edges, lazy = import_graph()
    assert circles(edges) == [["a", "b"]] and lazy == [("b", "a", 2)] and edges["c"] == set()
