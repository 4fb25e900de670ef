from corsgen.cli import main

raise SystemExit(main())
