"""Pictures for plugin authors: the plugin graph in Graphviz DOT, and rendering DOT with `dot`.

`plugin_graph(manager, points=..., load_errors=...)` draws, top-down, every plugin the manager knows (loaded
ones bold) with an edge per requirement labelled with its version constraint; a requirement that no plugin
satisfies is red, labelled with the constraint and what is wrong (missing, or the version found). With
`points` (the manager's extension points once the plugins are loaded), each extension point is a table
listing its implementations in dispatch order with their priorities (in mode `first`, the ones never called are
grey), and an edge to each implementing plugin labelled with the ranks it holds. Disconnected plugins are packed into rows, so that many small modules make a block, not a
strip. `render(dot_text, path)` runs Graphviz (`-Tsvg`, `-Tpng`, ... from the file's suffix).
"""

from __future__ import annotations

import html
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rpsc import CompileError

RED = "#c0392b"
_FORMATS = {".svg": "svg", ".png": "png", ".pdf": "pdf"}


def _id(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _q(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def plugin_graph(manager: Any, points: Mapping[str, Any] | None = None,
                 load_errors: Mapping[str, str] | None = None) -> str:
    """The DOT text of the plugin graph (see the module docstring)."""
    cands = manager.candidates()
    loaded = set(manager.loaded)
    errors = dict(load_errors or {})
    lines = ["digraph plugins {",
             "  rankdir=TB; nodesep=0.3; ranksep=0.5;",
             '  pack=true; packmode="array_u";',
             '  node [shape=box, style="rounded", fontname="monospace", fontsize=10];',
             '  edge [fontname="monospace", fontsize=9];']
    for name, cand in sorted(cands.items()):
        attrs = ['style="rounded,bold"'] if name in loaded else []
        parts = [name, f"{cand.version} ({cand.kind})"]
        if name in errors:
            attrs += [f'color="{RED}"', f'fontcolor="{RED}"']
            parts.append(f"not loaded: {errors[name][:70]}")
        label = "\\n".join(_q(p) for p in parts)
        lines.append(f'  {_id(name)} [label="{label}"{"".join(", " + a for a in attrs)}];')
    missing: set[str] = set()
    for name, cand in sorted(cands.items()):
        for req in cand.manifest.requires:
            constraint = str(req.constraint) or "any version"
            dep = cands.get(req.name)
            if dep is None:
                if req.name not in missing:
                    missing.add(req.name)
                    lines.append(f'  {_id(req.name)} [label="{_q(req.name)}\\n(missing)", color=red];')
                lines.append(f'  {_id(name)} -> {_id(req.name)} [label="{_q(constraint)}\\nnot found", '
                             f'color="{RED}", fontcolor="{RED}", penwidth=2];')
            elif not req.constraint.allows(dep.manifest.version):
                lines.append(f'  {_id(name)} -> {_id(req.name)} [label="{_q(constraint)}\\nbut {dep.version}", '
                             f'color="{RED}", fontcolor="{RED}", penwidth=2];')
            else:
                lines.append(f'  {_id(name)} -> {_id(req.name)} [label="{_q(constraint)}"];')
    for pname, point in sorted((points or {}).items()):
        node = _id(f"point:{pname}")
        rows = [f'<TR><TD COLSPAN="3" BGCOLOR="#eef3fb"><B>{html.escape(pname)}</B> '
                f'{html.escape(str(point.signature))} · mode {html.escape(point.mode)}</TD></TR>',
                '<TR><TD><I>#</I></TD><TD><I>implementation</I></TD><TD><I>priority</I></TD></TR>']
        impls = list(point.implementations)
        for n, impl in enumerate(impls, 1):
            called = point.mode == "all" or n == 1
            style = "" if called else ' COLOR="#999999"'
            who = f"{impl.plugin}.{impl.name}" if impl.plugin else f"(host) {impl.name}"
            rows.append(f'<TR><TD{style}>{n}</TD><TD PORT="i{n}" ALIGN="LEFT"{style}>{html.escape(who)}</TD>'
                        f"<TD{style}>{impl.priority}</TD></TR>")
        if not impls:
            rows.append('<TR><TD COLSPAN="3"><I>no implementation</I></TD></TR>')
        table = '<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="0" CELLPADDING="3">' + "".join(rows) + "</TABLE>"
        lines.append(f"  {node} [shape=plain, label=<{table}>];")
        ranks: dict[str, list[str]] = {}
        for n, impl in enumerate(impls, 1):
            ranks.setdefault(impl.plugin, []).append(f"#{n}")
        for plugin, which in ranks.items():
            if plugin in cands:
                lines.append(f'  {node} -> {_id(plugin)} [style=dashed, color="#3b6fb6", fontcolor="#3b6fb6", '
                             f'arrowhead=open, label="{" ".join(which)}"];')
    lines.append("}")
    return "\n".join(lines) + "\n"


def render(dot_text: str, output: str | Path) -> None:
    """Render DOT with Graphviz into `output`, in the format its suffix names (.svg, .png, .pdf)."""
    out = Path(output)
    fmt = _FORMATS.get(out.suffix.lower())
    if fmt is None:
        raise CompileError(f"{out}: error: cannot render {out.suffix or 'a file without suffix'}: use .dot, "
                           ".svg, .png or .pdf")
    dot = shutil.which("dot")
    if dot is None:
        raise CompileError(f"{out}: error: {fmt.upper()} output needs Graphviz `dot`, which is not installed "
                           "(write .dot instead, or install graphviz)")
    proc = subprocess.run([dot, f"-T{fmt}", "-o", str(out)], input=dot_text, text=True, capture_output=True)
    if proc.returncode != 0:
        raise CompileError(f"{out}: error: dot failed: {proc.stderr.strip()}")


def with_dispatch(manager: Any, draw: Any) -> str:
    """Load every plugin the manager knows (after declaring the extension points their manifests carry),
    draw the graph with the points' dispatch order, then unload everything; a plugin that fails to load is
    drawn in red with the reason."""
    from rpsrt.errors import Error

    cands = manager.candidates()
    errors: dict[str, str] = {}
    for cand in cands.values():
        for ep in cand.manifest.raw.get("extension_points", []) or []:
            try:
                manager.declare(ep["name"], ep["signature"], ep.get("mode", "first"))
            except (Error, KeyError, TypeError) as exc:
                errors[cand.name] = str(exc)
    try:
        for name in sorted(cands):
            if name in manager.loaded or name in errors:
                continue
            try:
                manager.load(name)
            except Error as exc:
                errors[name] = str(exc).splitlines()[0]
        return str(draw(manager, manager.points, errors))
    finally:
        manager.close()
