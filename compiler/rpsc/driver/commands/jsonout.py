"""The JSON documents of `--json` options (schemas in docs/json-output.md): shared helpers.

Not a command module (rpsc.driver.cli loads only COMMAND_MODULES). Every document has `"schema": 1`.
"""

from __future__ import annotations

import json
import math
import sys
from typing import Any

SCHEMA_VERSION = 1


def jsonable(value: Any) -> Any:
    """Floats JSON cannot hold (inf, -inf, nan) as the strings `rpsc run` prints."""
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


def emit(doc: dict[str, Any]) -> None:
    print(json.dumps(jsonable({"schema": SCHEMA_VERSION, **doc}), indent=2))


def span_json(span: Any) -> dict[str, Any]:
    return {"file": span.file, "line": span.line, "col": span.col,
            "end_line": span.end_line or span.line, "end_col": span.end_col or span.col + 1}


def diagnostic_json(d: Any) -> dict[str, Any]:
    """A frontend Diagnostic (or a plain message) as a JSON object."""
    if isinstance(d, str):
        return {"severity": "error", "message": d, "file": None, "line": None, "col": None, "end_line": None,
                "end_col": None, "hint": None, "notes": []}
    notes = [{"message": n.message, **(span_json(n.span) if n.span is not None else
                                       {"file": None, "line": None, "col": None, "end_line": None, "end_col": None})}
             for n in d.notes]
    return {"severity": d.severity, "message": d.message, **span_json(d.span), "hint": d.hint, "notes": notes}


def error_diagnostics(exc: Exception) -> list[dict[str, Any]]:
    """The diagnostics of an error: its own when it carries some, else one made of its rendered text."""
    diags = getattr(exc, "diagnostics", None) or []
    if diags:
        return [diagnostic_json(d) for d in diags]
    render = getattr(exc, "render", None)
    return [diagnostic_json(render() if callable(render) else str(exc))]


def failed(exc: Exception, **extra: Any) -> int:
    """Report an error as `{"ok": false, "diagnostics": [...]}` on stdout (and as text on stderr); exit 1."""
    render = getattr(exc, "render", None)
    print(render() if callable(render) else str(exc), file=sys.stderr)
    emit({**extra, "ok": False, "diagnostics": error_diagnostics(exc)})
    return 1


def store_check(path: str) -> int:
    """`rpsc store check DIR --json`."""
    import rpsrt
    from rpsrt.errors import Error

    try:
        heap = rpsrt.load_store(path)
    except Error as exc:
        return failed(exc, store=path)
    emit({"store": path, "ok": True, "objects": len(heap.objects), "spaces": len(heap.spaces),
          "roots": len(heap.roots), "constants": len(heap.constants), "plugins": len(heap.plugins),
          "diagnostics": []})
    return 0


def store_stats(path: str) -> int:
    """`rpsc store stats DIR --json`."""
    from collections import Counter

    import rpsrt
    from rpsrt.errors import Error
    from rpsrt.model import wellknown as wk

    try:
        heap = rpsrt.load_store(path)
    except Error as exc:
        return failed(exc, store=path)
    name_attr = heap.get(wk.NAME)
    by_class: Counter[tuple[str | None, str | None]] = Counter()
    for o in heap.objects.values():
        cls = o.cls
        name = cls.attrs.get(name_attr) if cls is not None and name_attr is not None else None
        by_class[(str(cls.oid) if cls is not None else None, name if isinstance(name, str) else None)] += 1
    by_kind = Counter(o.payload.kind if o.payload is not None else None for o in heap.objects.values())
    emit({"store": path, "ok": True,
          "classes": [{"oid": oid, "name": name, "objects": n}
                      for (oid, name), n in sorted(by_class.items(), key=lambda kv: (-kv[1], str(kv[0])))],
          "payloads": [{"kind": k, "objects": n} for k, n in sorted(by_kind.items(), key=lambda kv: (-kv[1], str(kv[0])))],
          "objects": len(heap.objects), "spaces": len(heap.spaces), "roots": len(heap.roots)})
    return 0
