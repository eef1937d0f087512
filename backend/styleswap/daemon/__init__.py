"""The StyleSwap daemon: one long-lived local process that keeps the models loaded and serves the wire
protocol (shared/PROTOCOL.md) to the CLI and the plug-ins. `styleswap-backend` starts it."""
