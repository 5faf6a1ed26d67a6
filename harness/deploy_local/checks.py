"""Checks printed as they run (OK / FAIL), and what was knowingly not checked."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Print = Callable[[str], None]


def _short(value: Any, limit: int = 300) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass
class Checks:
    out: Print = print
    passed: int = 0
    failed: list[str] = field(default_factory=list)
    not_checked: list[str] = field(default_factory=list)

    def check(self, name: str, ok: bool, detail: str = "") -> bool:
        self.out(f"  {'OK  ' if ok else 'FAIL'}  {name}" + (f": {detail}" if detail and not ok else ""))
        if ok:
            self.passed += 1
        else:
            self.failed.append(name)
        return ok

    def equal(self, name: str, expected: Any, actual: Any) -> bool:
        return self.check(name, expected == actual, f"expected {_short(expected)}, got {_short(actual)}")

    def contains(self, name: str, expected: dict[str, Any], actual: dict[str, Any]) -> bool:
        """Every key of `expected` has that value in `actual` (other keys of `actual` are ignored)."""
        differing = {key: actual.get(key) for key, value in expected.items() if actual.get(key) != value}
        return self.check(
            name, not differing, f"expected {_short({k: expected[k] for k in differing})}, got {_short(differing)}"
        )

    def fail(self, name: str, detail: str) -> None:
        self.check(name, False, detail)

    def skip(self, what: str) -> None:
        self.not_checked.append(what)

    def section(self, title: str) -> None:
        self.out(f"\n{title}")

    def summary(self) -> int:
        if self.not_checked:
            self.out(
                "\nnot checked: moto skips these (CloudFormation creates them on AWS; moto accepts and ignores them)"
            )
            for item in self.not_checked:
                self.out(f"  - {item}")
        total = self.passed + len(self.failed)
        self.out(f"\n{total} checks: {self.passed} OK, {len(self.failed)} FAIL")
        for name in self.failed:
            self.out(f"  FAIL  {name}")
        return 1 if self.failed else 0
