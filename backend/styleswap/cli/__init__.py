"""The `styleswap` command: stylise, fetch weights, and run the tools (bench, eval, training, installers)."""

from styleswap.cli.main import main

__all__ = ["main"]
