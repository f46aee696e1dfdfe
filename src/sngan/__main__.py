from sngan.cli import main

raise SystemExit(main())
