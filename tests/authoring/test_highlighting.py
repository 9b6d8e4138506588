"""Syntax highlighting: the TextMate grammar in editors/ and the Pygments lexer (by its entry point) tokenize
every example, every `.rps` test fixture and every ```rps block of the docs without an error token."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from .conftest import EXAMPLES, REPO

GRAMMAR = REPO / "editors" / "vscode" / "syntaxes" / "rps.tmLanguage.json"


def _parses(path: Path) -> bool:
    from rpsc import CompileError
    from rpsc.frontend.parser import parse

    try:
        parse(path.read_text(encoding="utf-8"), str(path))
        return True
    except (CompileError, UnicodeDecodeError):
        return False


def rps_files() -> list[Path]:
    """Every example module and every .rps file the tests keep that parses (the others are error cases)."""
    return sorted(EXAMPLES.glob("*.rps")) + [p for p in sorted((REPO / "tests").rglob("*.rps")) if _parses(p)]


LEXICAL_ERRORS = sorted(p for n in ("unexpected_character.rps", "unterminated_string.rps")
                        for p in (REPO / "tests").rglob(n))


class TextMate:
    """A TextMate grammar interpreter for what the grammar uses: match/captures, begin/end, include of the
    repository, name; the earliest match wins, ties go to the first rule (TextMate's rule)."""

    def __init__(self, grammar: dict[str, Any]) -> None:
        self.grammar = grammar
        self.repo = grammar.get("repository", {})

    def _rules(self, patterns: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = []
        for p in patterns:
            if "include" in p:
                out += self._rules(self.repo[p["include"].lstrip("#")]["patterns"])
            else:
                out.append(p)
        return out

    def tokenize(self, text: str) -> list[tuple[int, int, str]]:
        """(start, end, scope) of every scoped piece of `text` (captures give the innermost scope)."""
        rules = self._rules(self.grammar["patterns"])
        tokens: list[tuple[int, int, str]] = []
        pos = 0
        while pos < len(text):
            best = None
            for r in rules:
                rx = re.compile(r.get("match") or r["begin"], re.MULTILINE)
                m = rx.search(text, pos)
                if m is not None and m.end() > m.start() and (best is None or m.start() < best[1].start()):
                    best = (r, m)
            if best is None:
                break
            r, m = best
            if "begin" in r:
                end = re.compile(r["end"], re.MULTILINE).search(text, m.end())
                stop = end.end() if end else len(text)
                tokens.append((m.start(), stop, r["name"]))
                pos = stop
                continue
            caps = r.get("captures", {})
            if "name" in r:
                tokens.append((m.start(), m.end(), r["name"]))
            for group, cap in caps.items():
                g = int(group)
                if m.group(g) is not None and "name" in cap:
                    tokens.append((m.start(g), m.end(g), cap["name"]))
            pos = m.end()
        return tokens


@pytest.fixture(scope="module")
def textmate() -> TextMate:
    """The grammar shipped for editors, loaded into the interpreter."""
    return TextMate(json.loads(GRAMMAR.read_text()))


def _unscoped(text: str, tokens: list[tuple[int, int, str]]) -> list[tuple[int, str]]:
    covered = bytearray(len(text))
    for a, b, _ in tokens:
        covered[a:b] = b"\x01" * (b - a)
    return [(i, c) for i, c in enumerate(text) if not covered[i] and not c.isspace()]


@pytest.mark.parametrize("path", rps_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_textmate_grammar_highlights_every_file(textmate: TextMate, path: Path) -> None:
    """Every non-blank character of the file gets a scope, and none is `invalid`."""
    text = path.read_text(encoding="utf-8")
    tokens = textmate.tokenize(text)
    assert _unscoped(text, tokens) == []
    bad = [(text.count("\n", 0, a) + 1, text[a:b]) for a, b, s in tokens if s.startswith("invalid")]
    assert bad == []


def test_textmate_scopes_mean_something(textmate: TextMate) -> None:
    """Declarations, calls, keywords, literals and comments get their own scopes; a stray `$` is invalid."""
    text = ('// c\nmodule m version "1.0\\n";\nfn f(a: int) -> int { return g(a) + 0x1f + 2.5e3; } /* b */\n'
            'extension_point p(x: int) -> int mode all;\nsymbol s @_0abc = null;\nvar $;\n')
    scopes = {(text[a:b], s) for a, b, s in textmate.tokenize(text)}
    for piece in [("// c", "comment.line.double-slash.rps"), ("m", "entity.name.namespace.rps"),
                  ('"1.0\\n"', "string.quoted.double.rps"), ("f", "entity.name.function.rps"),
                  ("return", "keyword.control.rps"), ("g", "entity.name.function.call.rps"),
                  ("0x1f", "constant.numeric.integer.hexadecimal.rps"), ("2.5e3", "constant.numeric.float.rps"),
                  ("/* b */", "comment.block.rps"), ("p", "entity.name.function.extension-point.rps"),
                  ("all", "constant.language.mode.rps"), ("@_0abc", "constant.other.oid.rps"),
                  ("int", "storage.type.primitive.rps"), ("$", "invalid.illegal.rps")]:
        assert piece in scopes, piece


def test_vscode_manifest_points_at_the_grammar() -> None:
    """The VS Code extension manifest declares .rps files and the grammar file that exists."""
    manifest = json.loads((REPO / "editors" / "vscode" / "package.json").read_text())
    (grammar,) = manifest["contributes"]["grammars"]
    assert (REPO / "editors" / "vscode" / grammar["path"]).resolve() == GRAMMAR.resolve()
    assert manifest["contributes"]["languages"][0]["extensions"] == [".rps"]
    json.loads((REPO / "editors" / "vscode" / "language-configuration.json").read_text())


def _doc_blocks() -> list[tuple[str, str]]:
    out = []
    for md in sorted((REPO / "docs").glob("*.md")) + [REPO / "README.md"]:
        for n, m in enumerate(re.finditer(r"```rps\n(.*?)```", md.read_text(), re.DOTALL)):
            out.append((f"{md.name}#{n}", m.group(1)))
    return out


@pytest.mark.parametrize("path", rps_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_pygments_lexer_by_entry_point(path: Path) -> None:
    """Pygments finds the lexer by name and file name (the entry point) and lexes the file without Error."""
    from pygments.lexers import get_lexer_by_name, get_lexer_for_filename
    from pygments.token import Error

    lexer = get_lexer_by_name("rps")
    assert type(get_lexer_for_filename(path.name)) is type(lexer)
    text = path.read_text(encoding="utf-8")
    tokens = list(lexer.get_tokens(text))
    assert "".join(v for _, v in tokens) == text if text.endswith("\n") else text + "\n"
    assert [(t, v) for t, v in tokens if t in Error] == []


def test_pygments_lexer_kinds_and_errors() -> None:
    """The lexer tells names, keywords and literals apart, renders HTML, and marks a stray `$` as Error."""
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import get_lexer_by_name
    from pygments.token import Error, Keyword, Name, Number

    lexer = get_lexer_by_name("rpsc")
    toks = list(lexer.get_tokens("fn f(a: int) -> int { return g(a) + 3; } $"))
    assert (Name.Function, "f") in toks and (Name.Function, "g") in toks and (Keyword, "return") in toks
    assert (Keyword.Type, "int") in toks and (Number.Integer, "3") in toks and (Error, "$") in toks
    assert 'class="k"' in highlight("fn f() { return; }", lexer, HtmlFormatter())
    for _name, block in _doc_blocks():
        assert [v for t, v in lexer.get_tokens(block) if t in Error] == []


@pytest.mark.parametrize("path", LEXICAL_ERRORS, ids=lambda p: p.name)
def test_lexical_errors_are_error_tokens(textmate: TextMate, path: Path) -> None:
    """The golden files with a stray character or an unterminated string get an error token in both."""
    assert len(LEXICAL_ERRORS) == 2
    from pygments.lexers import get_lexer_by_name
    from pygments.token import Error

    text = path.read_text(encoding="utf-8")
    assert any(s.startswith("invalid") for _, _, s in textmate.tokenize(text))
    assert any(t in Error for t, _ in get_lexer_by_name("rps").get_tokens(text))
