"""Entry point for ``python -m bench``; everything lives in :mod:`bench.harness`."""

from bench.harness import main

raise SystemExit(main())
