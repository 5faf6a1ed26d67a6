"""moto server, with harness/moto_fixes.py applied first: `python -m harness.deploy_local.moto_main -H HOST -p PORT`.

The deployed functions run against this server with the environment CloudFormation gave them, so the server
must answer as AWS does where TrailGuard relies on it. moto answers ListTrails per region (a single-region
trail of another region is missing), AWS per account; with TRAILGUARD_TRAIL_LISTING=account, the deployed
default, the sweep's workers list an account's trails with one ListTrails. The fix is applied in the server's
own process, where the simulated accounts live, rather than overriding the deployed environment.
"""

from __future__ import annotations

import sys

from moto.server import main as serve

from harness import moto_fixes


def main(argv: list[str]) -> None:
    moto_fixes.apply()
    serve(argv)


if __name__ == "__main__":
    main(sys.argv[1:])
