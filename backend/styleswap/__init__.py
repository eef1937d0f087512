"""StyleSwap: fast patch-based arbitrary style transfer (Chen & Schmidt, 2016)."""

__version__ = "0.1.0"
