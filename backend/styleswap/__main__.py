from styleswap.cli.main import main

raise SystemExit(main())
