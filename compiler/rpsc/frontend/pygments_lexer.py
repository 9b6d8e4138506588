"""A Pygments lexer for `.rps`, registered under the `pygments.lexers` entry point as `rps` (also `rpsc`).

Sphinx, MkDocs and anything else that highlights with Pygments then renders ```` ```rps ```` code blocks. It
mirrors the TextMate grammar of editors/vscode/syntaxes/rps.tmLanguage.json; a character that is no token of
the language is an `Error` token. Importing this module imports Pygments (not a dependency of rpsc itself).
"""

from __future__ import annotations

from pygments.lexer import RegexLexer, bygroups, words
from pygments.token import Comment, Error, Keyword, Name, Number, Operator, Punctuation, String, Whitespace

__all__ = ["RpsLexer"]

_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"


class RpsLexer(RegexLexer):
    """The `.rps` language of rpsc (RefPerSys object definitions and functions)."""

    name = "rpsc"
    aliases = ["rps", "rpsc"]
    filenames = ["*.rps"]
    mimetypes = ["text/x-rps"]
    url = "https://refpersys.org"

    tokens = {
        "root": [
            (r"\s+", Whitespace),
            (r"//.*?$", Comment.Single),
            (r"/\*(?:[^*]|\*+[^*/])*\*+/", Comment.Multiline),
            (r'"', String.Double, "string"),
            (rf"\b(module|requires)(\s+)({_IDENT})", bygroups(Keyword.Namespace, Whitespace, Name.Namespace)),
            (rf"\b(fn|extension_point)(\s+)({_IDENT})", bygroups(Keyword.Declaration, Whitespace, Name.Function)),
            (rf"\b(class)(\s+)({_IDENT})", bygroups(Keyword.Declaration, Whitespace, Name.Class)),
            (rf"\b(object|attribute|selector|symbol|space)(\s+)({_IDENT})",
             bygroups(Keyword.Declaration, Whitespace, Name.Variable.Global)),
            (r"\b(mode)(\s+)(first|all)\b", bygroups(Keyword, Whitespace, Keyword.Constant)),
            (r"@_[0-9A-Za-z]+", Name.Label),
            (words(("if", "else", "while", "for", "in", "break", "continue", "return"), suffix=r"\b"), Keyword),
            (words(("module", "version", "requires", "space", "class", "attribute", "selector", "symbol",
                    "object", "fn", "extension_point", "mode", "extend", "priority", "with", "method", "var",
                    "comps"), suffix=r"\b"), Keyword.Reserved),
            (words(("int", "float", "bool", "void"), suffix=r"\b"), Keyword.Type),
            (words(("true", "false", "null"), suffix=r"\b"), Keyword.Constant),
            (r"\b[0-9]+\.[0-9]+(?:[eE][+-]?[0-9]+)?\b|\b[0-9]+[eE][+-]?[0-9]+\b", Number.Float),
            (r"\b0[xX][0-9A-Fa-f_]+\b", Number.Hex),
            (r"\b0[bB][01_]+\b", Number.Bin),
            (r"\b[0-9]+\b", Number.Integer),
            (r"\b(float|int|abs|min|max|sqrt)(?=\s*\()", Name.Builtin),
            (rf"{_IDENT}(?=\s*\()", Name.Function),
            (_IDENT, Name),
            (r"->|\.\.|&&|\|\||==|!=|<=|>=|<<|>>|[-+*/%<>=!~&|^]", Operator),
            (r"[;,:.(){}\[\]]", Punctuation),
            (r".", Error),
        ],
        "string": [
            (r'"', String.Double, "#pop"),
            (r"\\.", String.Escape),
            (r'[^"\\\n]+', String.Double),
            (r"\n", Error, "#pop"),
        ],
    }


