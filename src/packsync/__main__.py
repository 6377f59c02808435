"""`python -m packsync` is the same as the `packsync` console script."""

from packsync.cli.main import main

raise SystemExit(main())
