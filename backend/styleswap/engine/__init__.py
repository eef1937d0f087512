"""The engine: VGG-19 encoding, the style swap, matching (exact, fast, int8), the inverse network, the
optimisation, tiling, images and weights. It imports nothing from the daemon, the CLI or the tools."""
