"""`rpsc lsp`: a Language Server Protocol 3.17 server over stdio (pygls), serving `rpsc.driver.ide.Project`.

Features: diagnostics on open and on every change (the compiler's messages; hints appended, notes as
related information), hover, go to definition, completion, document symbols, whole-document formatting.
Positions are converted between the compiler's 1-based code-point columns and LSP's 0-based UTF-16 ones.
Initialisation options: `{"store": "DIR"}` (also `rpsc lsp --store DIR`) names the store whose modules
resolve `requires` not found among the sources.

pygls is an optional dependency (`pip install "rpsc[lsp]"`); this module imports it at the top, and the
command imports this module only when it runs.
"""

from __future__ import annotations

import os
from typing import Any

from lsprotocol import types as lsp
from pygls.lsp.server import LanguageServer
from pygls.uris import from_fs_path, to_fs_path

from rpsc import __version__
from rpsc.driver.ide import Project
from rpsc.frontend import ast

_KINDS = {"function": lsp.SymbolKind.Function, "extension_point": lsp.SymbolKind.Event,
          "class": lsp.SymbolKind.Class, "object": lsp.SymbolKind.Object, "attribute": lsp.SymbolKind.Field,
          "selector": lsp.SymbolKind.Method, "symbol": lsp.SymbolKind.Constant}
_COMPLETION_KINDS = {"function": lsp.CompletionItemKind.Function, "extension_point": lsp.CompletionItemKind.Event,
                     "class": lsp.CompletionItemKind.Class, "object": lsp.CompletionItemKind.Value,
                     "attribute": lsp.CompletionItemKind.Field, "selector": lsp.CompletionItemKind.Method,
                     "symbol": lsp.CompletionItemKind.Constant, "param": lsp.CompletionItemKind.Variable,
                     "var": lsp.CompletionItemKind.Variable, "for": lsp.CompletionItemKind.Variable,
                     "builtin": lsp.CompletionItemKind.Function, "wellknown": lsp.CompletionItemKind.Class,
                     "module": lsp.CompletionItemKind.Module, "keyword": lsp.CompletionItemKind.Keyword}


def _utf16_col(line_text: str, col: int) -> int:
    """A 1-based code-point column as a 0-based UTF-16 offset."""
    head = line_text[: max(col - 1, 0)]
    return len(head.encode("utf-16-le")) // 2 + max(col - 1 - len(head), 0)


def _codepoint_col(line_text: str, character: int) -> int:
    """A 0-based UTF-16 offset as a 1-based code-point column."""
    units = 0
    for i, ch in enumerate(line_text):
        if units >= character:
            return i + 1
        units += 2 if ord(ch) > 0xFFFF else 1
    return len(line_text) + 1 + max(character - units, 0)


class RpsLanguageServer(LanguageServer):
    def __init__(self, store: str | None = None) -> None:
        super().__init__("rpsc", __version__)
        self.project = Project(store=store)

    def lines_of(self, path: str) -> list[str]:
        try:
            return self.project._text(path).splitlines()
        except OSError:
            return []

    def position(self, path: str, line: int, col: int) -> lsp.Position:
        lines = self.lines_of(path)
        text = lines[line - 1] if 1 <= line <= len(lines) else ""
        return lsp.Position(line=max(line - 1, 0), character=_utf16_col(text, col))

    def range(self, path: str, span: ast.Span) -> lsp.Range:
        end_line = span.end_line or span.line
        end_col = span.end_col or span.col + 1
        return lsp.Range(start=self.position(path, span.line, span.col),
                         end=self.position(path, end_line, end_col))

    def from_lsp(self, path: str, pos: lsp.Position) -> tuple[int, int]:
        lines = self.lines_of(path)
        text = lines[pos.line] if 0 <= pos.line < len(lines) else ""
        return pos.line + 1, _codepoint_col(text, pos.character)


def _path(uri: str) -> str:
    return to_fs_path(uri) or uri


def _diagnostic(server: RpsLanguageServer, path: str, d: Any) -> lsp.Diagnostic:
    message = d.message + (f"\nhint: {d.hint}" if d.hint else "")
    related = []
    for note in d.notes:
        if note.span is None:
            message += f"\nnote: {note.message}"
        else:
            related.append(lsp.DiagnosticRelatedInformation(
                location=lsp.Location(uri=from_fs_path(os.path.abspath(note.span.file)) or note.span.file,
                                      range=server.range(note.span.file, note.span)),
                message=note.message))
    severity = lsp.DiagnosticSeverity.Error if d.severity == "error" else lsp.DiagnosticSeverity.Warning
    return lsp.Diagnostic(range=server.range(path, d.span), message=message, severity=severity,
                          source="rpsc", related_information=related or None)


def make_server(store: str | None = None) -> RpsLanguageServer:
    server = RpsLanguageServer(store)

    def publish(uri: str, diags: list[Any]) -> None:
        path = _path(uri)
        server.text_document_publish_diagnostics(lsp.PublishDiagnosticsParams(
            uri=uri, diagnostics=[_diagnostic(server, path, d) for d in diags]))

    @server.feature(lsp.INITIALIZE)
    def initialize(ls: RpsLanguageServer, params: lsp.InitializeParams) -> None:
        opts = params.initialization_options or {}
        if isinstance(opts, dict) and isinstance(opts.get("store"), str):
            ls.project = Project(store=opts["store"], roots=ls.project.roots)
        roots = [_path(f.uri) for f in params.workspace_folders or []]
        if not roots and params.root_uri:
            roots = [_path(params.root_uri)]
        ls.project.roots = roots

    @server.feature(lsp.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: RpsLanguageServer, params: lsp.DidOpenTextDocumentParams) -> None:
        doc = params.text_document
        publish(doc.uri, ls.project.open(_path(doc.uri), doc.text))

    @server.feature(lsp.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: RpsLanguageServer, params: lsp.DidChangeTextDocumentParams) -> None:
        uri = params.text_document.uri
        text = ls.workspace.get_text_document(uri).source  # pygls applied the (incremental) changes
        publish(uri, ls.project.change(_path(uri), text))

    @server.feature(lsp.TEXT_DOCUMENT_DID_SAVE)
    def did_save(ls: RpsLanguageServer, params: lsp.DidSaveTextDocumentParams) -> None:
        path = _path(params.text_document.uri)
        if path in ls.project.docs:
            publish(params.text_document.uri, ls.project.analyse(path))

    @server.feature(lsp.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: RpsLanguageServer, params: lsp.DidCloseTextDocumentParams) -> None:
        ls.project.close(_path(params.text_document.uri))
        publish(params.text_document.uri, [])

    @server.feature(lsp.TEXT_DOCUMENT_HOVER)
    def hover(ls: RpsLanguageServer, params: lsp.HoverParams) -> lsp.Hover | None:
        path = _path(params.text_document.uri)
        line, col = ls.from_lsp(path, params.position)
        hit = ls.project.hover(path, line, col)
        if hit is None:
            return None
        return lsp.Hover(contents=lsp.MarkupContent(kind=lsp.MarkupKind.Markdown, value=hit[0]),
                         range=ls.range(path, hit[1]))

    @server.feature(lsp.TEXT_DOCUMENT_DEFINITION)
    def definition(ls: RpsLanguageServer, params: lsp.DefinitionParams) -> lsp.Location | None:
        path = _path(params.text_document.uri)
        line, col = ls.from_lsp(path, params.position)
        hit = ls.project.definition(path, line, col)
        if hit is None:
            return None
        file, span = hit
        uri = params.text_document.uri if file == path else (from_fs_path(os.path.abspath(file)) or file)
        return lsp.Location(uri=uri, range=ls.range(file, span))

    @server.feature(lsp.TEXT_DOCUMENT_COMPLETION, lsp.CompletionOptions(trigger_characters=[]))
    def completion(ls: RpsLanguageServer, params: lsp.CompletionParams) -> lsp.CompletionList:
        path = _path(params.text_document.uri)
        line, col = ls.from_lsp(path, params.position)
        items = [lsp.CompletionItem(label=s.name, kind=_COMPLETION_KINDS.get(s.kind),
                                    detail=s.detail if s.kind != "keyword" else "keyword")
                 for s in ls.project.completion(path, line, col)]
        return lsp.CompletionList(is_incomplete=False, items=items)

    @server.feature(lsp.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
    def symbols(ls: RpsLanguageServer, params: lsp.DocumentSymbolParams) -> list[lsp.DocumentSymbol]:
        path = _path(params.text_document.uri)
        out = []
        for sym, whole in ls.project.symbols(path):
            sel = sym.span or whole
            out.append(lsp.DocumentSymbol(name=sym.name, detail=sym.detail,
                                          kind=_KINDS.get(sym.kind, lsp.SymbolKind.Variable),
                                          range=ls.range(path, whole), selection_range=ls.range(path, sel)))
        return out

    @server.feature(lsp.TEXT_DOCUMENT_FORMATTING)
    def formatting(ls: RpsLanguageServer, params: lsp.DocumentFormattingParams) -> list[lsp.TextEdit] | None:
        from rpsc import CompileError

        path = _path(params.text_document.uri)
        text = ls.project._text(path)
        try:
            new = ls.project.format(path)
        except CompileError:
            return None  # a file that does not parse is left alone (its diagnostics say why)
        if new == text:
            return []
        lines = text.split("\n")
        end = lsp.Position(line=len(lines) - 1, character=len(lines[-1].encode("utf-16-le")) // 2)
        return [lsp.TextEdit(range=lsp.Range(start=lsp.Position(line=0, character=0), end=end), new_text=new)]

    return server


def serve(store: str | None = None) -> int:
    make_server(store).start_io()
    return 0
