"""``python -m trailguard``: the command line (see ``trailguard.cli``)."""

from trailguard.cli import main

raise SystemExit(main())
