"""`rpsc lsp`: the language server (stdio). Needs the optional extra: `pip install "rpsc[lsp]"` (pygls)."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "lsp", help="run the .rps language server (LSP over stdio; needs rpsc[lsp])",
        description="Serve the Language Server Protocol over stdin/stdout for .rps files: diagnostics as you "
                    "type, hover, go to definition (across required modules and the store), completion, "
                    "document symbols and formatting. Editors start it themselves; see docs/editors.md.",
        epilog='example (Neovim):\n  vim.lsp.start({name = "rpsc", cmd = {"rpsc", "lsp"}, '
               'init_options = {store = "build/store"}})',
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--store", metavar="DIR", help="resolve `requires` of modules not found as source from this store")
    p.add_argument("--stdio", action="store_true", help="talk over stdin/stdout (the default and only transport)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from rpsc import Error

    try:
        from rpsc.driver.lsp import serve
    except ImportError as exc:
        if (exc.name or "").split(".")[0] not in ("pygls", "lsprotocol"):
            raise
        raise Error('rpsc lsp: error: the language server needs pygls: pip install "rpsc[lsp]"') from None
    return serve(args.store)
