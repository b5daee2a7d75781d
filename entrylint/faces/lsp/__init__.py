"""The language server face (``entrylint lsp``): engine.py analyses in a
worker thread with a content-hash cache, features.py computes what is shown,
server.py speaks LSP (pygls, the ``lsp`` extra)."""


def main(argv: list[str] | None = None) -> int:
    try:
        from entrylint.faces.lsp.server import main as serve
    except ImportError as e:  # pygls/lsprotocol not installed
        import sys

        sys.stderr.write(f"entrylint: the language server needs the lsp extra "
                         f"(pip install 'entrylint[lsp]'): {e}\n")
        return 2
    return serve(argv)
