"""Editor services over `.rps` sources, independent of any protocol: what `rpsc lsp` serves.

`Project(store=None)` holds the open documents (`open`/`change`/`close`) and answers, for a document path and a
1-based (line, column) position: `diagnostics` (the compiler's own messages, hints and notes: parse errors,
else the checker's, with the modules the file `requires` taken from open documents, from `.rps` files in
the same folder and the project roots, or from the store), `hover` (a name's kind, signature, module and
OID), `definition` (across required modules; a module that only the store holds is printed back into a
cache file, `rpsc show`'s text, and the location points into it), `completion` (names in scope), `symbols`
and `format`.

Name lookup works on the AST alone, so that hover, definition and completion keep working while the file
has type errors; a file that does not parse uses its last good parse.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rpsc.frontend import ast

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_MODULE_HEADER = re.compile(r"^\s*module\s+([A-Za-z_][A-Za-z0-9_]*)", re.MULTILINE)
KEYWORDS = ("module", "version", "requires", "space", "class", "attribute", "selector", "symbol", "object",
            "fn", "extension_point", "mode", "extend", "priority", "with", "method", "var", "if", "else",
            "while", "for", "in", "break", "continue", "return", "true", "false", "null", "comps",
            "int", "float", "bool", "void", "first", "all")
BUILTINS = {"float": "fn float(x: int) -> float", "int": "fn int(x: float) -> int",
            "abs": "fn abs(x: int|float) -> int|float", "min": "fn min(a, b)  (int or float)",
            "max": "fn max(a, b)  (int or float)", "sqrt": "fn sqrt(x: float) -> float"}


@dataclass(frozen=True, slots=True)
class Symbol:
    """A named thing and where it is defined. `kind`: function, extension_point, class, attribute, selector,
    symbol, object, module, param, var, for, builtin, wellknown."""

    name: str
    kind: str
    detail: str                      # a one-line signature in .rps syntax
    module: str = ""
    version: str = ""
    oid: str | None = None
    file: str | None = None          # where it is defined (None: nowhere to go)
    span: ast.Span | None = None     # the defining name's span in `file`
    origin: str = "source"           # source, store, builtin


@dataclass
class _Doc:
    path: str
    text: str
    module: ast.Module | None = None        # the last good parse
    diagnostics: list[Any] = field(default_factory=list)


def _params(params: Iterable[ast.Param]) -> str:
    return ", ".join(f"{p.name}: {p.type}" for p in params)


def _ret(ret: str) -> str:
    return "" if ret == "void" else f" -> {ret}"


def decl_detail(d: Any) -> tuple[str, str] | None:
    """(kind, one-line signature) of a top-level declaration with a name; None for extend/method."""
    if isinstance(d, ast.FnDecl):
        return "function", f"fn {d.name}({_params(d.params)}){_ret(d.ret)}"
    if isinstance(d, ast.ExtensionPointDecl):
        return "extension_point", f"extension_point {d.name}({_params(d.params)}){_ret(d.ret)} mode {d.mode}"
    if isinstance(d, ast.ClassDecl):
        return "class", f"class {d.name}" + (f" : {d.superclass}" if d.superclass else "")
    if isinstance(d, ast.ObjectDecl):
        return "object", f"object {d.name}" + (f" : {d.cls}" if d.cls else "")
    if isinstance(d, ast.AttributeDecl):
        return "attribute", f"attribute {d.name}"
    if isinstance(d, ast.SelectorDecl):
        return "selector", f"selector {d.name}"
    if isinstance(d, ast.SymbolDecl):
        return "symbol", f"symbol {d.name}"
    return None


def name_span(text: str, span: ast.Span | None, name: str) -> ast.Span | None:
    """The span of `name` itself inside the declaration or statement spanning `span` of `text`."""
    if span is None:
        return None
    lines = text.splitlines()
    for ln in range(span.line, min(span.end_line or span.line, span.line + 3, len(lines)) + 1):
        line = lines[ln - 1]
        start = span.col - 1 if ln == span.line else 0
        for m in _IDENT.finditer(line, start):
            if m.group() == name and m.group() not in ("fn",):
                return ast.Span(span.file, ln, m.start() + 1, ln, m.end() + 1)
    return span


def decl_range(d: Any) -> ast.Span | None:
    """The whole extent of a declaration: from its line to the end of its body (decl spans name the name)."""
    span = d.span
    if span is None:
        return None
    body = getattr(d, "body", None)
    if isinstance(body, ast.Block) and body.span is not None:
        return ast.Span(span.file, span.line, 1, body.span.end_line, body.span.end_col)
    return ast.Span(span.file, span.line, 1, span.end_line or span.line, span.end_col)


def _contains(span: ast.Span | None, line: int, col: int) -> bool:
    if span is None:
        return False
    end_line = span.end_line or span.line
    if (line, col) < (span.line, span.col):
        return False
    return (line, col) < (end_line, span.end_col) if span.end_col else line <= end_line


def module_symbols(m: ast.Module, file: str | None, text: str | None, origin: str = "source",
                   oids: dict[str, str] | None = None) -> dict[str, Symbol]:
    """The top-level definitions of a module, by name."""
    out: dict[str, Symbol] = {}
    for d in m.decls:
        kd = decl_detail(d)
        if kd is None:
            continue
        name = d.name  # type: ignore[union-attr]
        span = name_span(text, d.span, name) if text is not None else d.span  # type: ignore[union-attr]
        oid = getattr(d, "oid", None) or (oids or {}).get(name)
        out[name] = Symbol(name, kd[0], kd[1], m.name, m.version or "0.0.0", oid, file, span, origin)
    return out


class _StoreIndex:
    """The code modules of a store: their ASTs printed back to files in a cache folder (for definitions)."""

    def __init__(self, store: str) -> None:
        self.store = store
        self.stamp: float | None = None
        self.modules: dict[str, tuple[ast.Module, str, str, dict[str, str]]] = {}  # name -> (ast, file, text, oids)
        self.error: str | None = None

    def refresh(self) -> None:
        manifest = Path(self.store, "rps_manifest.json")
        try:
            stamp = manifest.stat().st_mtime
        except OSError:
            self.modules, self.error = {}, f"{self.store}: no store here (no rps_manifest.json)"
            return
        if stamp == self.stamp:
            return
        self.stamp = stamp
        try:
            self.modules = self._load()
            self.error = None
        except Exception as exc:  # noqa: BLE001 - a broken store must not stop the editor
            self.modules, self.error = {}, f"{self.store}: cannot read the store: {exc}"

    def _load(self) -> dict[str, tuple[ast.Module, str, str, dict[str, str]]]:
        import rpsrt
        from rpsc.frontend.parser import parse
        from rpsc.frontend.printer import print_module
        from rpsc.heapcode.classes import find_code_classes
        from rpsc.heapcode.decode import decode_module
        from rpsc.heapcode.encode import module_objects, stored_interfaces

        heap = rpsrt.load_store(self.store)
        cc = find_code_classes(heap)
        if cc is None:
            return {}
        interfaces = stored_interfaces(heap)
        folder = cache_folder() / "lsp" / hashlib.sha256(os.path.abspath(self.store).encode()).hexdigest()[:16]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "store.txt").write_text(os.path.abspath(self.store) + "\n", encoding="utf-8")
        out = {}
        for name, mobj in sorted(module_objects(heap, cc).items()):
            text = print_module(decode_module(mobj, cc))
            file = folder / f"{name}.rps"
            if not file.is_file() or file.read_text(encoding="utf-8") != text:
                tmp = file.with_suffix(".tmp")
                tmp.write_text(text, encoding="utf-8")
                os.replace(tmp, file)
            iface = interfaces.get(name)
            oids = {k: d.oid for k, d in iface.definitions.items() if d.oid} if iface else {}
            out[name] = (parse(text, str(file)), str(file), text, oids)
        return out


def cache_folder() -> Path:
    """rpsc's cache folder (`rpsc.cachedir.cache_root`)."""
    from rpsc.cachedir import cache_root

    return cache_root()


class Project:
    """Open documents, the folders to look for required modules in, and an optional store."""

    def __init__(self, store: str | None = None, roots: Iterable[str] = ()) -> None:
        self.docs: dict[str, _Doc] = {}
        self.roots = [str(r) for r in roots]
        self.store = _StoreIndex(store) if store else None

    # ------------------------------------------------------------ documents

    def open(self, path: str, text: str) -> list[Any]:
        self.docs[path] = _Doc(path, text)
        return self.analyse(path)

    def change(self, path: str, text: str) -> list[Any]:
        doc = self.docs.get(path)
        if doc is None:
            return self.open(path, text)
        doc.text = text  # the last good parse stays until this text parses
        return self.analyse(path)

    def close(self, path: str) -> None:
        self.docs.pop(path, None)

    def _text(self, path: str) -> str:
        doc = self.docs.get(path)
        if doc is not None:
            return doc.text
        return Path(path).read_text(encoding="utf-8")

    # ------------------------------------------------------------ modules by name

    def _source_modules(self, near: str) -> Iterator[tuple[str, str]]:
        """(path, text) of candidate source files: open documents, the file's folder, the roots."""
        seen = set()
        for p, d in self.docs.items():
            seen.add(os.path.abspath(p))
            yield p, d.text
        folders = [os.path.dirname(os.path.abspath(near))] + self.roots
        for folder in folders:
            try:
                names = sorted(os.listdir(folder))
            except OSError:
                continue
            for n in names:
                p = os.path.join(folder, n)
                if n.endswith(".rps") and os.path.abspath(p) not in seen:
                    seen.add(os.path.abspath(p))
                    try:
                        yield p, Path(p).read_text(encoding="utf-8")
                    except (OSError, UnicodeDecodeError):
                        continue

    def find_module(self, name: str, near: str) -> tuple[ast.Module, str, str, str, dict[str, str]] | None:
        """A module by name: (AST, file, text, origin, oids) from the sources first, else from the store."""
        from rpsc import CompileError
        from rpsc.frontend.parser import parse

        for path, text in self._source_modules(near):
            m = _MODULE_HEADER.search(text)
            if m is None or m.group(1) != name:
                continue
            doc = self.docs.get(path)
            if doc is not None and doc.module is not None:
                return doc.module, path, text, "source", self._store_oids(name)
            try:
                return parse(text, path), path, text, "source", self._store_oids(name)
            except CompileError:
                continue
        if self.store is not None:
            self.store.refresh()
            hit = self.store.modules.get(name)
            if hit is not None:
                return hit[0], hit[1], hit[2], "store", hit[3]
        return None

    def _store_oids(self, name: str) -> dict[str, str]:
        if self.store is None:
            return {}
        self.store.refresh()
        hit = self.store.modules.get(name)
        return hit[3] if hit else {}

    # ------------------------------------------------------------ diagnostics

    def analyse(self, path: str) -> list[Any]:
        """Parse and check one document; its diagnostics (rpsc.frontend.diagnostics.Diagnostic) for this file."""
        from rpsc import CompileError
        from rpsc.frontend.check import check
        from rpsc.frontend.diagnostics import Diagnostic
        from rpsc.frontend.parser import parse

        doc = self.docs[path]
        try:
            doc.module = parse(doc.text, path)
        except CompileError as exc:
            doc.diagnostics = [d for d in exc.diagnostics or [] if isinstance(d, Diagnostic)]
            return doc.diagnostics
        mods = [doc.module]
        known: dict[str, Any] = {}
        todo = [r.module for r in doc.module.requires]
        seen = {doc.module.name}
        while todo:
            name = todo.pop()
            if name in seen:
                continue
            seen.add(name)
            found = self.find_module(name, path)
            if found is None:
                continue
            if found[3] == "store":
                known.update(self._store_interfaces(name))
                continue
            mods.append(found[0])
            todo.extend(r.module for r in found[0].requires)
        # the store's interfaces of modules given neither as documents nor as files
        if self.store is not None:
            given = {m.name for m in mods}
            for k, v in self._all_store_interfaces().items():
                if k not in given:
                    known.setdefault(k, v)
        try:
            check(mods, known_modules=known)
            doc.diagnostics = []
        except CompileError as exc:
            doc.diagnostics = [d for d in exc.diagnostics or []
                               if isinstance(d, Diagnostic) and os.path.abspath(d.span.file) == os.path.abspath(path)]
        return doc.diagnostics

    def _all_store_interfaces(self) -> dict[str, Any]:
        if self.store is None:
            return {}
        self.store.refresh()
        cached = getattr(self.store, "_interfaces", None)
        if cached is not None and cached[0] == self.store.stamp:
            return cached[1]  # type: ignore[no-any-return]
        try:
            import rpsrt
            from rpsc.heapcode.encode import stored_interfaces

            ifaces = stored_interfaces(rpsrt.load_store(self.store.store))
        except Exception:  # noqa: BLE001 - reported by refresh()
            ifaces = {}
        self.store._interfaces = (self.store.stamp, ifaces)  # type: ignore[attr-defined]
        return ifaces

    def _store_interfaces(self, name: str) -> dict[str, Any]:
        ifaces = self._all_store_interfaces()
        return {name: ifaces[name]} if name in ifaces else {}

    # ------------------------------------------------------------ names

    def _doc_module(self, path: str) -> tuple[ast.Module | None, str]:
        doc = self.docs.get(path)
        if doc is None:
            from rpsc.frontend.parser import parse

            text = self._text(path)
            return parse(text, path), text
        return doc.module, doc.text

    def scope(self, path: str, line: int, col: int) -> dict[str, Symbol]:
        """Every name visible at a position: locals, own definitions, required modules', builtins."""
        m, text = self._doc_module(path)
        out: dict[str, Symbol] = {}
        try:
            from rpsc.frontend.check import WELLKNOWN
        except ImportError:  # pragma: no cover - the checker's table moved
            WELLKNOWN = {}  # noqa: N806
        for name, d in WELLKNOWN.items():
            out[name] = Symbol(name, "wellknown", f"{d.kind} {name}  (RefPerSys well-known)", oid=d.oid,
                               origin="builtin")
        for name, detail in BUILTINS.items():
            out[name] = Symbol(name, "builtin", detail, origin="builtin")
        if m is None:
            return out
        for r in m.requires:
            found = self.find_module(r.module, path)
            if found is not None:
                out.update(module_symbols(found[0], found[1], found[2], found[3], found[4]))
        out.update(module_symbols(m, path, text, oids=self._store_oids(m.name)))
        for r in m.requires:
            found = self.find_module(r.module, path)
            sym = Symbol(r.module, "module", f"module {r.module}" + (f" version \"{found[0].version}\"" if found
                                                                       and found[0].version else ""),
                         r.module, found[0].version or "0.0.0" if found else "", None,
                         found[1] if found else None,
                         name_span(found[2], found[0].span, r.module) if found else None,
                         found[3] if found else "source")
            out.setdefault(r.module, sym)
        fn = next((d for d in m.decls if isinstance(d, ast.FnDecl) and _contains(decl_range(d), line, col)), None)
        if fn is not None:
            for name, sym in _locals_at(fn, path, text, m, line, col).items():
                out[name] = sym
        return out

    def word_at(self, path: str, line: int, col: int) -> tuple[str, ast.Span] | None:
        lines = self._text(path).splitlines()
        if not 1 <= line <= len(lines):
            return None
        for m in _IDENT.finditer(lines[line - 1]):
            if m.start() + 1 <= col <= m.end():
                return m.group(), ast.Span(path, line, m.start() + 1, line, m.end() + 1)
        return None

    def lookup(self, path: str, line: int, col: int) -> tuple[Symbol, ast.Span] | None:
        word = self.word_at(path, line, col)
        if word is None or word[0] in KEYWORDS and word[0] not in self.scope(path, line, col):
            return None
        sym = self.scope(path, line, col).get(word[0])
        return (sym, word[1]) if sym is not None else None

    def hover(self, path: str, line: int, col: int) -> tuple[str, ast.Span] | None:
        """Markdown describing the name at a position, and the name's span."""
        hit = self.lookup(path, line, col)
        if hit is None:
            return None
        sym, span = hit
        parts = [f"```rps\n{sym.detail}\n```"]
        what = {"function": "function", "extension_point": "extension point", "param": "parameter",
                "var": "local variable", "for": "loop variable", "builtin": "builtin function",
                "wellknown": "well-known object"}.get(sym.kind, sym.kind)
        where = ""
        if sym.kind in ("param", "var", "for"):
            where = f" of `{sym.module}`"
        elif sym.kind == "module":
            where = f" ({'from the store' if sym.origin == 'store' else sym.file})" if sym.file else " (not found)"
        elif sym.module:
            where = f" in module `{sym.module}` {sym.version}".rstrip()
            if sym.origin == "store":
                where += " (from the store)"
        line2 = f"{what}{where}"
        if sym.oid:
            line2 += f" · OID `{sym.oid}`"
        parts.append(line2)
        return "\n\n".join(parts), span

    def definition(self, path: str, line: int, col: int) -> tuple[str, ast.Span] | None:
        """(file, span) where the name at a position is defined."""
        hit = self.lookup(path, line, col)
        if hit is None or hit[0].file is None or hit[0].span is None:
            return None
        return hit[0].file, hit[0].span

    def completion(self, path: str, line: int, col: int) -> list[Symbol]:
        """The names in scope at a position, then the keywords, sorted by name."""
        syms = dict(self.scope(path, line, col))
        for k in KEYWORDS:
            syms.setdefault(k, Symbol(k, "keyword", k, origin="builtin"))
        return sorted(syms.values(), key=lambda s: (s.kind == "keyword", s.name))

    def symbols(self, path: str) -> list[tuple[Symbol, ast.Span]]:
        """The document's top-level definitions with their whole spans."""
        m, text = self._doc_module(path)
        if m is None:
            return []
        out = []
        syms = module_symbols(m, path, text)
        for d in m.decls:
            name = getattr(d, "name", None)
            if name in syms and d.span is not None:
                out.append((syms[name], decl_range(d)))
        return out

    def format(self, path: str) -> str:
        """The document in canonical form (DiagnosticError when it does not parse)."""
        from rpsc.frontend.fmt import format_source

        return format_source(self._text(path), path)


def _locals_at(fn: ast.FnDecl, path: str, text: str, m: ast.Module, line: int, col: int) -> dict[str, Symbol]:
    """Parameters and variables of `fn` visible at (line, col) (declared before it, in an enclosing block)."""
    where = f"fn {fn.name}"
    out: dict[str, Symbol] = {}
    for p in fn.params:
        out[p.name] = Symbol(p.name, "param", f"{p.name}: {p.type}", where, "", None, path,
                             name_span(text, p.span, p.name))

    def before(span: ast.Span | None) -> bool:
        return span is not None and (span.line, span.col) <= (line, col)

    def walk(stmts: Iterable[Any]) -> None:
        for s in stmts:
            if not before(s.span):
                return
            if isinstance(s, ast.VarStmt):
                detail = f"var {s.name}" + (f": {s.type}" if s.type else "")
                out[s.name] = Symbol(s.name, "var", detail, where, "", None, path, name_span(text, s.span, s.name))
            elif isinstance(s, ast.ForStmt) and _contains(s.span, line, col):
                out[s.var] = Symbol(s.var, "for", f"for {s.var}: int", where, "", None, path,
                                    name_span(text, s.span, s.var))
                walk(s.body.stmts)
            elif isinstance(s, ast.Block) and _contains(s.span, line, col):
                walk(s.stmts)
            elif isinstance(s, ast.WhileStmt) and _contains(s.body.span, line, col):
                walk(s.body.stmts)
            elif isinstance(s, ast.IfStmt):
                node: Any = s
                while isinstance(node, ast.IfStmt):
                    if _contains(node.then.span, line, col):
                        walk(node.then.stmts)
                        return
                    node = node.orelse
                if isinstance(node, ast.Block) and _contains(node.span, line, col):
                    walk(node.stmts)

    walk(fn.body.stmts)
    return out
