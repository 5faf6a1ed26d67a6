"""`python -m harness.deploy_local` (what `make deploy-local` runs)."""

import sys

from harness.deploy_local.rehearsal import main

sys.exit(main())
