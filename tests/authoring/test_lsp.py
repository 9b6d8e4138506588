"""`rpsc lsp`: a real Language Server Protocol exchange over the server's stdin/stdout."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from queue import Empty, Queue
from typing import Any

import pytest

from .conftest import EXAMPLES

pytest.importorskip("pygls", reason="rpsc[lsp] (pygls) is not installed")  # it is in the test extras


class Client:
    """A minimal LSP client: Content-Length framed JSON-RPC over a child process's pipes."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     env=env)
        self.next_id = 0
        self.inbox: Queue[dict[str, Any]] = Queue()
        self.notifications: list[dict[str, Any]] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        out = self.proc.stdout
        assert out is not None
        while True:
            headers = {}
            while True:
                line = out.readline()
                if not line:
                    return
                if line in (b"\r\n", b"\n"):
                    break
                k, _, v = line.decode("ascii").partition(":")
                headers[k.strip().lower()] = v.strip()
            body = out.read(int(headers["content-length"]))
            self.inbox.put(json.loads(body))

    def send(self, message: dict[str, Any]) -> None:
        data = json.dumps({"jsonrpc": "2.0", **message}).encode()
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(data) + data)
        self.proc.stdin.flush()

    def request(self, method: str, params: Any) -> Any:
        self.next_id += 1
        rid = self.next_id
        self.send({"id": rid, "method": method, "params": params})
        while True:
            msg = self.wait()
            if msg.get("id") == rid and "method" not in msg:
                assert "error" not in msg, msg
                return msg.get("result")

    def notify(self, method: str, params: Any) -> None:
        self.send({"method": method, "params": params})

    def wait(self, timeout: float = 60) -> dict[str, Any]:
        try:
            msg = self.inbox.get(timeout=timeout)
        except Empty:
            raise AssertionError("the server did not answer within %s s" % timeout) from None
        if "method" in msg and "id" not in msg:
            self.notifications.append(msg)
        return msg

    def diagnostics_for(self, uri: str) -> list[dict[str, Any]]:
        """The next publishDiagnostics for `uri` (already received or to come)."""
        while True:
            for n in self.notifications:
                if n["method"] == "textDocument/publishDiagnostics" and n["params"]["uri"] == uri:
                    self.notifications.remove(n)
                    return n["params"]["diagnostics"]  # type: ignore[no-any-return]
            self.wait()

    def close(self) -> str:
        try:
            self.request("shutdown", None)
            self.notify("exit", None)
            self.proc.wait(timeout=30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        assert self.proc.stderr is not None
        return self.proc.stderr.read().decode(errors="replace")


BROKEN = """module events version "1.0.0";
requires numeric >= "1.0.0";

extension_point on_tick(t: int) -> int mode all;
extend on_tick priority 10 with tick_fib;

fn tick_fib(t: int) -> int {
    var   spare = fib_iter(t % 64);
    return gcd(t, 360.0) + spare;
}
"""


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A folder holding numeric.rps (required by the document under test) and events.rps."""
    shutil.copy(EXAMPLES / "numeric.rps", tmp_path / "numeric.rps")
    (tmp_path / "events.rps").write_text(BROKEN)
    return tmp_path


def _uri(p: Path) -> str:
    return p.resolve().as_uri()


def test_lsp_exchange_over_stdio(workspace: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    """initialize, didOpen of a file with a type error -> publishDiagnostics with the compiler's message and
    hint; hover and definition across `requires`; completion; symbols; formatting; a fix clears the error."""
    env = {**os.environ, "RPSC_CACHE_DIR": str(tmp_path_factory.mktemp("cache"))}
    client = Client([sys.executable, "-m", "rpsc", "lsp"], env)
    try:
        init = client.request("initialize", {"processId": os.getpid(), "rootUri": _uri(workspace),
                                             "capabilities": {}, "workspaceFolders": None})
        caps = init["capabilities"]
        assert init["serverInfo"]["name"] == "rpsc"
        assert caps["hoverProvider"] and caps["definitionProvider"] and caps["documentFormattingProvider"]
        assert caps["documentSymbolProvider"] and "completionProvider" in caps
        client.notify("initialized", {})
        events = workspace / "events.rps"
        uri = _uri(events)
        client.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "rps", "version": 1,
                                                                "text": BROKEN}})
        diags = client.diagnostics_for(uri)
        assert len(diags) == 1
        d = diags[0]
        assert d["range"] == {"start": {"line": 8, "character": 18}, "end": {"line": 8, "character": 23}}
        assert d["severity"] == 1 and d["source"] == "rpsc"
        assert d["message"] == ("argument 2 of `gcd` must be int, not float\n"
                                "hint: convert it (truncating toward zero): `int(360.0)`")

        hover = client.request("textDocument/hover", {"textDocument": {"uri": uri},
                                                      "position": {"line": 7, "character": 20}})
        assert hover["contents"]["kind"] == "markdown"
        assert "fn fib_iter(n: int) -> int" in hover["contents"]["value"]
        assert "function in module `numeric` 1.2.0" in hover["contents"]["value"]
        assert hover["range"] == {"start": {"line": 7, "character": 18}, "end": {"line": 7, "character": 26}}
        local = client.request("textDocument/hover", {"textDocument": {"uri": uri},
                                                      "position": {"line": 8, "character": 28}})
        assert "spare" in local["contents"]["value"] and "local variable of `fn tick_fib`" in local["contents"]["value"]

        loc = client.request("textDocument/definition", {"textDocument": {"uri": uri},
                                                         "position": {"line": 7, "character": 20}})
        numeric_lines = (workspace / "numeric.rps").read_text().splitlines()
        assert loc["uri"] == _uri(workspace / "numeric.rps")
        line = loc["range"]["start"]["line"]
        start, end = loc["range"]["start"]["character"], loc["range"]["end"]["character"]
        assert numeric_lines[line].startswith("fn fib_iter(") and numeric_lines[line][start:end] == "fib_iter"
        own = client.request("textDocument/definition", {"textDocument": {"uri": uri},
                                                         "position": {"line": 4, "character": 8}})
        assert own["uri"] == uri and own["range"]["start"] == {"line": 3, "character": 16}

        items = client.request("textDocument/completion", {"textDocument": {"uri": uri},
                                                           "position": {"line": 8, "character": 11}})["items"]
        labels = {i["label"] for i in items}
        assert {"spare", "t", "gcd", "fib_iter", "tick_fib", "on_tick", "sqrt", "return"} <= labels

        syms = client.request("textDocument/documentSymbol", {"textDocument": {"uri": uri}})
        assert [(s["name"], s["kind"]) for s in syms] == [("on_tick", 24), ("tick_fib", 12)]

        edits = client.request("textDocument/formatting", {"textDocument": {"uri": uri},
                                                           "options": {"tabSize": 4, "insertSpaces": True}})
        assert len(edits) == 1 and "    var spare = fib_iter(t % 64);\n" in edits[0]["newText"]
        assert edits[0]["range"]["start"] == {"line": 0, "character": 0}

        fixed = BROKEN.replace("360.0", "360")
        client.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": 2},
                                                 "contentChanges": [{"text": fixed}]})
        assert client.diagnostics_for(uri) == []
        unparsable = fixed.replace("return gcd(t, 360) + spare;", "return gcd(t, 360) + spare")
        client.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": 3},
                                                 "contentChanges": [{"text": unparsable}]})
        (syntax,) = client.diagnostics_for(uri)
        assert syntax["message"].startswith("expected `;`") and syntax["range"]["start"]["line"] == 8
        hover = client.request("textDocument/hover", {"textDocument": {"uri": uri},
                                                      "position": {"line": 7, "character": 20}})
        assert "fn fib_iter(n: int) -> int" in hover["contents"]["value"]  # from the last good parse
        assert client.request("textDocument/formatting", {"textDocument": {"uri": uri},
                                                          "options": {"tabSize": 4, "insertSpaces": True}}) is None
    finally:
        err = client.close()
    assert client.proc.returncode == 0, err
    assert "Traceback" not in err, err


def test_definition_into_the_store(examples_store: Path, tmp_path: Path,
                                   tmp_path_factory: pytest.TempPathFactory) -> None:
    """With only the store holding `numeric`, hover names it as stored with its OID and definition opens
    the module printed back from the store, at the function."""
    env = {**os.environ, "RPSC_CACHE_DIR": str(tmp_path_factory.mktemp("cache"))}
    alone = tmp_path / "events.rps"
    alone.write_text((EXAMPLES / "events.rps").read_text())
    client = Client([sys.executable, "-m", "rpsc", "lsp"], env)
    try:
        client.request("initialize", {"processId": None, "rootUri": _uri(tmp_path), "capabilities": {},
                                      "initializationOptions": {"store": str(examples_store)}})
        client.notify("initialized", {})
        uri = _uri(alone)
        client.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "rps", "version": 1,
                                                                "text": alone.read_text()}})
        assert client.diagnostics_for(uri) == []
        line = next(i for i, t in enumerate(alone.read_text().splitlines()) if "fib_iter(" in t)
        col = alone.read_text().splitlines()[line].index("fib_iter") + 2
        hover = client.request("textDocument/hover", {"textDocument": {"uri": uri},
                                                      "position": {"line": line, "character": col}})
        assert "(from the store) · OID `_" in hover["contents"]["value"]
        loc = client.request("textDocument/definition", {"textDocument": {"uri": uri},
                                                         "position": {"line": line, "character": col}})
        target = Path(loc["uri"].removeprefix("file://"))
        assert target.name == "numeric.rps" and str(target).startswith(env["RPSC_CACHE_DIR"])
        text = target.read_text().splitlines()[loc["range"]["start"]["line"]]
        assert text.startswith("fn fib_iter(n: int) -> int")
    finally:
        client.close()


def test_lsp_without_pygls_is_a_clear_error(tmp_path: Path) -> None:
    """When pygls cannot be imported, `rpsc lsp` says how to install it (exit 1, no traceback)."""
    blocker = tmp_path / "block"
    blocker.mkdir()
    (blocker / "pygls").mkdir()
    (blocker / "pygls" / "__init__.py").write_text("raise ImportError('no pygls here', name='pygls')\n")
    env = {**os.environ, "PYTHONPATH": str(blocker)}
    proc = subprocess.run([sys.executable, "-m", "rpsc", "lsp"], capture_output=True, text=True, env=env,
                          stdin=subprocess.DEVNULL, timeout=60)
    assert proc.returncode == 1 and 'pip install "rpsc[lsp]"' in proc.stderr and "Traceback" not in proc.stderr
