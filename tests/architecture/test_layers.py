"""The layer rules of ARCHITECTURE.md, checked on the module-level import graph computed from the sources."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ROOTS = {"rpsc": REPO / "compiler" / "rpsc", "rpsrt": REPO / "runtime" / "rpsrt"}

#: Layers of `rpsc`, lowest first; a module may import its own layer's modules and those of lower layers.
#: `rpsc` itself (its `__init__`: version and the exception tree) is the bottom of the compiler.
LAYERS = ["rpsc", "rpsc.frontend", "rpsc.heapcode", "rpsc.ir", "rpsc.backends", "rpsc.driver"]
BACKENDS = ("rpsc.backends.interp", "rpsc.backends.llvm", "rpsc.backends.c")
HEAVY = ("llvmlite", "lark", "jinja2")


def _modules() -> dict[str, Path]:
    found = {}
    for top, root in ROOTS.items():
        for path in root.rglob("*.py"):
            rel = path.relative_to(root).with_suffix("").parts
            if rel[-1] == "__init__":
                rel = rel[:-1]
            found[".".join((top, *rel))] = path
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _module_level_imports(name: str, path: Path, known: set[str]) -> set[str]:
    """Modules imported when `name` is imported: top-level statements, skipping `if TYPE_CHECKING:` blocks
    and function bodies (imports deferred on purpose)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    is_pkg = path.name == "__init__.py"
    package = name if is_pkg else name.rpartition(".")[0]
    out: set[str] = set()

    def visit(stmts: list[ast.stmt]) -> None:
        for node in stmts:
            if isinstance(node, ast.If):
                if not _is_type_checking(node.test):
                    visit(node.body)
                visit(node.orelse)
            elif isinstance(node, ast.Try):
                visit(node.body)
                for h in node.handlers:
                    visit(h.body)
                visit(node.orelse)
                visit(node.finalbody)
            elif isinstance(node, ast.Import):
                out.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")
                    base = base[: len(base) - (node.level - 1)]
                    mod = ".".join(base + ([node.module] if node.module else []))
                else:
                    mod = node.module or ""
                out.add(mod)
                for a in node.names:
                    if f"{mod}.{a.name}" in known:
                        out.add(f"{mod}.{a.name}")

    visit(tree.body)
    return out


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    known = set(mods)
    return {m: _module_level_imports(m, p, known) for m, p in mods.items()}


def _layer(mod: str) -> int:
    best = 0
    for i, prefix in enumerate(LAYERS):
        if mod == prefix or mod.startswith(prefix + "."):
            best = i
    return best


def _backend(mod: str) -> str | None:
    return next((b for b in BACKENDS if mod == b or mod.startswith(b + ".")), None)


#: Known violations being removed (each must go; the list only shrinks).
PENDING: set[tuple[str, str]] = set()


def _violations(graph: dict[str, set[str]], pending: set[tuple[str, str]] = PENDING) -> list[str]:
    bad = []
    for mod, imports in sorted(graph.items()):
        if mod == "rpsc.__main__":  # `python -m rpsc`: the entry point stands above every layer
            continue
        for imp in sorted(imports):
            if (mod, imp) in pending:
                continue
            top = imp.split(".")[0]
            if mod.startswith("rpsrt"):
                if top == "rpsc":
                    bad.append(f"{mod} imports {imp}: rpsrt never imports rpsc")
                if top in HEAVY:
                    bad.append(f"{mod} imports {imp}: rpsrt needs no compiler library")
                continue
            if top != "rpsc":
                continue
            if _layer(imp) > _layer(mod):
                bad.append(f"{mod} imports {imp}: {LAYERS[_layer(mod)]} may not import the layer above it")
            mb, ib = _backend(mod), _backend(imp)
            if mb and ib and mb != ib:
                bad.append(f"{mod} imports {imp}: no backend imports another")
            if _layer(mod) == LAYERS.index("rpsc.ir") and imp.startswith("rpsc.frontend"):
                bad.append(f"{mod} imports {imp}: ir never imports the frontend")
    return bad


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every import cycle among our own modules (Tarjan's strongly connected components of size > 1)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def strong(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in graph:
                continue
            if w not in index:
                strong(w)
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
            if len(comp) > 1 or v in graph.get(v, ()):
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return out


def _package_edges(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """The graph with each module's imports, plus an edge from every module to its parent package (importing
    `a.b.c` runs `a.b`'s `__init__` first)."""
    full = {m: set(i for i in imps if i in graph) for m, imps in graph.items()}
    for m in graph:
        parent = m.rpartition(".")[0]
        if parent in graph:
            full[m].add(parent)
    return full


def test_no_import_cycle() -> None:
    """No import cycle at module level among rpsc's and rpsrt's modules."""
    graph = {m: {i for i in imps if i in _modules()} for m, imps in _graph().items()}
    assert _cycles(graph) == []


def test_layers_import_only_downward() -> None:
    """frontend and heapcode never import ir or a backend, ir never imports the frontend, no backend imports
    another, and rpsrt imports nothing of rpsc nor a compiler library."""
    assert _violations(_graph()) == []


def test_the_checker_catches_a_violation() -> None:
    """The rules above are live: a made-up upward import and a made-up cycle are both reported."""
    graph = {"rpsc.frontend.parser": {"rpsc.ir.ir"}, "rpsc.ir.ir": {"rpsc.frontend.parser"},
             "rpsrt.model.heap": {"rpsc.ir.ir"},
             "rpsc.backends.llvm.jit": {"rpsc.backends.c.emit"}}
    text = "\n".join(_violations(graph, pending=set()))
    assert "rpsc.frontend.parser imports rpsc.ir.ir" in text
    assert "rpsc.ir.ir imports rpsc.frontend.parser: ir never imports the frontend" in text
    assert "rpsrt never imports rpsc" in text
    assert "no backend imports another" in text
    assert _cycles({"a": {"b"}, "b": {"a"}}) == [["a", "b"]]


@pytest.mark.parametrize("top", sorted(ROOTS))
def test_every_package_is_found(top: str) -> None:
    """The graph sees every package of the tree (a moved or renamed folder would silently escape the rules)."""
    mods = _modules()
    assert any(m.startswith(top + ".") for m in mods)
