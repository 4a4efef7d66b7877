"""`python -m layerlab` is the `layerlab` command."""

from layerlab.cli import main

raise SystemExit(main())
