"""`make docs`: the documents derived from the check registry, written where the repository keeps them.

The README's table and docs/checks.md are rendered from the registry the code runs; a test fails when they
differ, and this brings them back in line.
"""

from __future__ import annotations

import re
from pathlib import Path

from trailguard.catalogue import markdown_table

ROOT = Path(__file__).resolve().parent.parent
TABLE = re.compile(r"\| check \| severity \|.*?(?=\n\n|\Z)", re.DOTALL)
CHECKS_PAGE = """# The checks

Generated from the check registry (`make docs`; `python -m trailguard catalogue` prints the table). A test
keeps this page, the README and the code equal. Severities are fixed per check; a message's severity is the
highest of its findings. "Automatic in `remediate` mode" repairs run unless `TRAILGUARD_MODE=report`; policy
repairs need `TRAILGUARD_REPAIR_POLICIES=true` as well. Everything else is reported only. The ids are stable:
subscribers filter on them (the `checks` message attribute).

{table}
"""


def checks_page() -> str:
    return CHECKS_PAGE.format(table=markdown_table())


def readme(text: str) -> str:
    return TABLE.sub(lambda _: markdown_table(), text, count=1)


def main() -> int:
    (ROOT / "docs" / "checks.md").write_text(checks_page())
    path = ROOT / "README.md"
    path.write_text(readme(path.read_text()))
    print("docs/checks.md and the README's table rendered from the check registry")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
