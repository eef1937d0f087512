from styleswap.cli import main

raise SystemExit(main())
