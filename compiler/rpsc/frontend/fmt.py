"""The `.rps` formatter: the printer's canonical form, with the source's comments put back where they stand.

`format_source(text, path)` parses `text` (raising DiagnosticError on a syntax error), prints the module with
`rpsc.frontend.printer.print_module` (which knows nothing of comments), then scans the source for comments and
re-attaches each one to the printed text by position:

- a comment alone on its line goes on its own line before the printed line holding the code token that
  followed it in the source (indented like that line, or one level deeper before a closing `}`), after a
  blank line when the source had one before it;
- a comment after code on its line goes at the end of the printed line holding the code token before it;
- a block comment with code on both sides stays inline, before the token that followed it.

Tokens of the source and of the printed text are matched with a longest-matching-blocks alignment, so the
places survive the printer's changes (parentheses, literal spellings, blank lines). The result is checked
before it is returned: it parses to the same AST as the source and holds the same comments, in order.
Formatting is idempotent (a property test checks it).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from rpsc import CompileError

__all__ = ["format_source", "Comment", "scan_comments"]

_INDENT = "    "

_TOKEN = re.compile(r"""
    (?P<ws>[ \t\r\n\f]+)
  | (?P<line>//[^\n]*)
  | (?P<block>/\*(?:[^*]|\*+[^*/])*\*+/)
  | (?P<code>"(?:[^"\\\n]|\\[^\n])*"
        | [0-9]+\.[0-9]+(?:[eE][+-]?[0-9]+)? | [0-9]+[eE][+-]?[0-9]+
        | @?[A-Za-z0-9_]+
        | \.\.|->|\|\||&&|==|!=|<=|>=|<<|>>
        | .)
""", re.VERBOSE | re.DOTALL)


@dataclass(frozen=True, slots=True)
class Comment:
    """A comment of the source: its text, where it stands, and the code tokens around it.

    `placement` is "own" (alone on its line), "trailing" (code before it, none after on its line) or
    "inline" (a block comment with code after it on its line). `before`/`after` are the indexes of the code
    tokens just before and after it (-1 / None at the start / end of the file)."""

    text: str
    placement: str
    before: int
    after: int | None
    blank_before: bool


@dataclass(frozen=True, slots=True)
class _Tok:
    text: str
    start: int
    end: int


def _tokens(text: str) -> tuple[list[_Tok], list[tuple[str, int, int]]]:
    """The code tokens of `text` and its comments (kind, start, end)."""
    code: list[_Tok] = []
    comments: list[tuple[str, int, int]] = []
    for m in _TOKEN.finditer(text):
        kind = m.lastgroup
        if kind == "code":
            code.append(_Tok(m.group(), m.start(), m.end()))
        elif kind in ("line", "block"):
            comments.append((kind, m.start(), m.end()))
    return code, comments


def scan_comments(text: str) -> tuple[list[_Tok], list[Comment]]:
    """The code tokens and the comments of a source text (see `Comment`)."""
    import bisect

    code, raw = _tokens(text)
    starts = [t.start for t in code]
    comments: list[Comment] = []
    prev_comment_end = -1
    for kind, start, end in raw:
        k = bisect.bisect_left(starts, start)  # the first code token after the comment
        before, after = k - 1, (k if k < len(code) else None)
        line_start = text.rfind("\n", 0, start) + 1
        line_end = text.find("\n", end)
        line_end = len(text) if line_end < 0 else line_end
        code_before = before >= 0 and code[before].end > line_start
        code_after = kind == "block" and after is not None and code[after].start < line_end
        placement = "inline" if code_after and code_before else "trailing" if code_before else "own"
        if code_after and not code_before:
            placement = "inline"
        prev = max(code[before].end if before >= 0 else -1, prev_comment_end)
        blank = prev >= 0 and text[prev:start].count("\n") >= 2
        body = text[start:end].rstrip() if kind == "line" else text[start:end]
        comments.append(Comment(body, placement, before, after, blank))
        prev_comment_end = end
    return code, comments


def format_source(text: str, path: str = "<input>") -> str:
    """`text` in canonical form with its comments kept (see the module docstring); DiagnosticError when it
    does not parse."""
    from rpsc.frontend.parser import parse
    from rpsc.frontend.printer import print_module

    module = parse(text, path)
    printed = print_module(module)
    src_code, comments = scan_comments(text)
    out_code, _ = _tokens(printed)
    mapping = _align([t.text for t in src_code], [t.text for t in out_code])

    lines = printed.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    line_starts = []
    pos = 0
    for line in lines:
        line_starts.append(pos)
        pos += len(line) + 1
    import bisect

    def line_of(offset: int) -> int:
        return bisect.bisect_right(line_starts, offset) - 1

    last_tok: dict[int, int] = {}
    for j, tok in enumerate(out_code):
        last_tok[line_of(tok.start)] = j
    before_line: dict[int, list[Comment]] = {}
    end_of_line: dict[int, list[Comment]] = {}
    inline_before: dict[int, list[str]] = {}  # out token index -> block comments
    at_end: list[Comment] = []
    at_start_trailing: list[Comment] = []
    closed: set[int] = set()  # printed lines that got a trailing comment: nothing more goes on them
    inline_lines: set[int] = set()  # printed lines that got an inline comment
    overflowed: set[int] = set()  # printed lines whose comments had to go after them
    first_tok: dict[int, int] = {}
    for j, tok in enumerate(out_code):
        first_tok.setdefault(line_of(tok.start), j)

    def overflow(n: int, j: int, c: Comment) -> None:
        # The comment goes on its own line before the next printed line, where it stays next time; what
        # comes later in the source cannot go on line n any more.
        closed.add(n)
        overflowed.add(n)
        nxt = last_tok.get(n, j) + 1
        if nxt < len(out_code):
            before_line.setdefault(line_of(out_code[nxt].start), []).append(c)
        else:
            at_end.append(c)

    for c in comments:  # in source order: each printed line gets its comments in that order too
        if c.placement == "own" or (c.placement == "trailing" and c.before < 0):
            j = _forward(mapping, c.after, len(out_code)) if c.after is not None else None
            if j is None:
                at_end.append(c)
                continue
            n = line_of(out_code[j].start)
            if first_tok.get(n) != j and (n in closed or n in inline_lines):
                overflow(n, j, c)  # before line n it would precede comments of line n that come first
            else:
                before_line.setdefault(n, []).append(c)
        elif c.placement == "trailing":
            j = _backward(mapping, c.before)
            if j is None:
                at_start_trailing.append(c)
                continue
            n = line_of(out_code[j].start)
            if n in overflowed or any(t.text.startswith("//") for t in end_of_line.get(n, ())):
                overflow(n, j, c)  # nothing can follow a line comment on its line
            else:
                end_of_line.setdefault(n, []).append(c)
                closed.add(n)
        else:
            j = _forward(mapping, c.after, len(out_code)) if c.after is not None else None
            if j is None:
                at_end.append(c)
                continue
            n = line_of(out_code[j].start)
            if n in closed:
                overflow(n, j, c)  # it would land before a trailing comment that comes first
            else:
                inline_before.setdefault(j, []).append(c.text)
                inline_lines.add(n)

    # Inline block comments first (they change offsets within lines, so rebuild lines from tokens).
    if inline_before:
        pieces: list[str] = []
        last = 0
        for j in sorted(inline_before):
            tok = out_code[j]
            pieces.append(printed[last:tok.start])
            if pieces[-1] and not pieces[-1][-1].isspace():
                pieces.append(" ")
            pieces.append(" ".join(inline_before[j]) + " ")
            last = tok.start
        pieces.append(printed[last:])
        new_lines = "".join(pieces).split("\n")
        if new_lines and new_lines[-1] == "":
            new_lines.pop()
        assert len(new_lines) == len(lines)
        lines = new_lines

    # Blank lines of the source before a token that starts a printed line are kept (one at most), as gofmt
    # and rustfmt keep them, except just inside braces.
    blank_src = _blank_before_tokens(text, src_code, comments)
    inverse = {j: i for i, j in mapping.items()}

    result: list[str] = []
    for c in at_start_trailing:
        result.append(c.text)
    for n, line in enumerate(lines):
        for c in before_line.get(n, ()):
            if c.blank_before and result and result[-1].strip() != "" and not result[-1].endswith("{"):
                result.append("")
            indent = line[: len(line) - len(line.lstrip())]
            if line.strip().startswith("}"):
                indent += _INDENT
            result.append(indent + c.text)
        j = first_tok.get(n)
        if (j is not None and out_code[j].start == line_starts[n] + len(line) - len(line.lstrip())
                and inverse.get(j) in blank_src and not line.lstrip().startswith("}")
                and result and result[-1].strip() != "" and not result[-1].endswith("{")):
            result.append("")
        if n in end_of_line:
            line = line.rstrip() + "  " + " ".join(c.text for c in end_of_line[n])
        result.append(line)
    for c in at_end:
        if c.blank_before and result and result[-1].strip() != "":
            result.append("")
        result.append(c.text)
    formatted = "\n".join(result) + "\n"
    _verify(text, formatted, module, comments, path)
    return formatted


def _blank_before_tokens(text: str, code: list[_Tok], comments: list[Comment]) -> set[int]:
    """Indexes of the code tokens with a blank line between them and the code or comment before them."""
    _, raw = _tokens(text)
    ends = sorted([t.end for t in code] + [end for _k, _s, end in raw])
    import bisect

    out = set()
    for i, tok in enumerate(code):
        k = bisect.bisect_right(ends, tok.start) - 1
        if k >= 0 and text[ends[k]:tok.start].count("\n") >= 2:
            out.add(i)
    return out


def _align(a: list[str], b: list[str]) -> dict[int, int]:
    """Source token index -> printed token index, for the tokens that match."""
    sm = difflib.SequenceMatcher(None, a, b, autojunk=False)
    mapping: dict[int, int] = {}
    for block in sm.get_matching_blocks():
        for k in range(block.size):
            mapping[block.a + k] = block.b + k
    return mapping


def _forward(mapping: dict[int, int], i: int, n_out: int) -> int | None:
    """The printed token of source token i, or of the nearest matched one after it."""
    if not mapping:
        return None
    last = max(mapping)
    while i <= last:
        if i in mapping:
            return mapping[i]
        i += 1
    return None


def _backward(mapping: dict[int, int], i: int) -> int | None:
    while i >= 0:
        if i in mapping:
            return mapping[i]
        i -= 1
    return None


def _verify(source: str, formatted: str, module: object, comments: list[Comment], path: str) -> None:
    from rpsc.frontend.parser import parse

    again = parse(formatted, path)
    _, out_comments = scan_comments(formatted)
    if again != module or [c.text.strip() for c in out_comments] != [c.text.strip() for c in comments]:
        raise CompileError(f"{path}: error: internal formatter error: the formatted text would change the "
                           "module or lose a comment; the file is left as it is (please report this)")
