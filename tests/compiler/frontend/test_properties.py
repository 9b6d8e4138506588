"""Property tests: generated well-typed modules round-trip and check; random input only ever gives diagnostics."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from rpsc import CompileError
from rpsc.frontend import ast
from rpsc.frontend.check import check
from rpsc.frontend.diagnostics import Diagnostic
from rpsc.frontend.parser import parse
from rpsc.frontend.printer import print_module
from strategies_rps import Program, function_modules, modules, programs

from .test_parser import GEOMETRY

GOLDEN = Path(__file__).parent / "golden"
PLUGINS_SRC = Path(__file__).resolve().parents[3] / "plugins_src"
EXAMPLES = [GEOMETRY] + [p.read_text(encoding="utf-8") for p in sorted(GOLDEN.glob("*.rps"))] + \
    [p.read_text(encoding="utf-8") for p in sorted(PLUGINS_SRC.rglob("*.rps"))]
TOKENS = ["module", "m", ";", "fn", "f", "(", ")", "{", "}", "->", "int", "float", "bool", "var", "x", "=",
          "if", "else", "while", "for", "in", "..", "return", "break", "continue", "1", "-", "2.5", "true",
          "+", "*", "/", "%", "<<", ">>", "&", "|", "^", "&&", "||", "!", "~", "<", "<=", "==", "!=", ",", ":",
          "class", "object", "attribute", "selector", "symbol", "extension_point", "mode", "all", "extend",
          "with", "priority", "method", ".", "[", "]", "null", '"s"', "@_4pSwobFHGf301Qgwzh", "/*", "*/", "//",
          "\n", "requires", ">=", '"1.0"', "space", "version", "0x1F", "9223372036854775808", "@", "$", '"']


def only_diagnostics(text: str) -> None:
    """Parse and check `text`: either it is accepted (and round-trips through the printer) or a
    CompileError carrying Diagnostics is raised; anything else propagates and fails the test."""
    try:
        m = parse(text, "fuzz.rps")
    except CompileError as exc:
        assert exc.diagnostics and all(isinstance(d, Diagnostic) for d in exc.diagnostics)
        for d in exc.diagnostics:
            d.render(text)
        return
    assert parse(print_module(m), "again.rps") == m
    try:
        check([m])
    except CompileError as exc:
        assert exc.diagnostics and all(isinstance(d, Diagnostic) for d in exc.diagnostics)
        for d in exc.diagnostics:
            d.render(text)


@settings(max_examples=150)
@given(modules())
def test_generated_modules_roundtrip_and_check(m: ast.Module) -> None:
    """A random well-formed module prints to source that parses to the same AST and passes the checker."""
    text = print_module(m)
    again = parse(text, "gen.rps")
    assert again == m
    assert print_module(again) == text
    check([again])


@settings(max_examples=150)
@given(programs())
def test_generated_programs_are_well_typed(p: Program) -> None:
    """Generated programs check, and their entry function and arguments agree with its signature."""
    again = parse(print_module(p.module), "gen.rps")
    assert again == p.module
    cf = check([again]).module("gen").functions[p.entry]
    assert len(cf.signature.params) == len(p.args)
    for t, v in zip(cf.signature.params, p.args, strict=True):
        assert type(v).__name__ == t


@settings(max_examples=60)
@given(function_modules(max_functions=6, max_depth=3))
def test_generated_statement_coverage(m: ast.Module) -> None:
    """Bigger generated function modules stay well-typed (deeper nesting, more functions)."""
    check([parse(print_module(m), "gen.rps")])


@settings(max_examples=300)
@given(st.binary(max_size=400))
def test_random_bytes_only_diagnostics(data: bytes) -> None:
    """Random bytes (as text) never raise anything but a CompileError with diagnostics."""
    only_diagnostics(data.decode("utf-8", errors="replace"))


@settings(max_examples=300)
@given(st.lists(st.sampled_from(TOKENS), max_size=60))
def test_token_soup_only_diagnostics(tokens: list[str]) -> None:
    """Random sequences of the language's own tokens never raise anything but diagnostics."""
    only_diagnostics("module m;\n" + " ".join(tokens))


@st.composite
def mutated_examples(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(EXAMPLES))
    for _ in range(draw(st.integers(1, 4))):
        if not text:
            break
        i = draw(st.integers(0, len(text) - 1))
        j = draw(st.integers(i, min(len(text), i + 12)))
        op = draw(st.integers(0, 3))
        if op == 0:
            text = text[:i] + text[j:]
        elif op == 1:
            text = text[:i] + draw(st.sampled_from(TOKENS)) + text[i:]
        elif op == 2:
            text = text[:i] + text[i:j] + text[i:j] + text[j:]
        else:
            text = text[:i] + draw(st.text(max_size=3)) + text[j:]
    return text


@settings(max_examples=300)
@given(mutated_examples())
def test_mutated_examples_only_diagnostics(text: str) -> None:
    """Random mutations of example sources never raise anything but diagnostics."""
    only_diagnostics(text)
