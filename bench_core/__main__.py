from bench_core.cli import main

raise SystemExit(main())
