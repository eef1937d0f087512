"""The engine on a Ray cluster: actors that keep the models resident, and the frame scheduling the CLI and the
daemon share. Needs ``pip install 'styleswap[ray]'``; nothing below the CLI and the daemon imports it."""
