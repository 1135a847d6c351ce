from trainbridge.cli import main

raise SystemExit(main())
