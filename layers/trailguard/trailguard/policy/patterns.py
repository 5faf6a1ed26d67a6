"""Sets of policy patterns compiled once, so that "does any of them match this value?" costs the same for a
list of three values as for a list of three thousand.

Policies written for many accounts list one value per account (``arn:aws:cloudtrail:*:<ACCOUNT>:trail/*``,
``AWSLogs/<ACCOUNT>/*``, ``aws:SourceAccount`` ids...). Asking the question for every account by scanning
those lists is quadratic. A ``PatternSet`` answers exact values from a hash set, and wildcard patterns from
an index of their literal runs: every literal run of a wildcard pattern (the text between ``*`` and ``?``)
is a substring of each value it matches, so a value's candidates are the patterns whose chosen run occurs
in it. Each candidate is then checked with the exact matcher, so the answer is always exactly the one a
scan would give; only the cost changes (a pattern whose runs are all shared by many others only makes
more candidates to check).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from typing import Literal

from trailguard.policy.ids import parse_arn
from trailguard.policy.matching import action_matches, arn_match, glob_match, resource_matches

PatternKind = Literal["equals", "equals_ignore_case", "like", "arn", "action", "resource"]
_WILDCARDS = ("*", "?")


def _runs(pattern: str) -> list[str]:
    runs: list[str] = []
    current: list[str] = []
    for char in pattern:
        if char in _WILDCARDS:
            if current:
                runs.append("".join(current))
                current = []
        else:
            current.append(char)
    if current:
        runs.append("".join(current))
    return runs


def _has_wildcard(pattern: str) -> bool:
    return any(token in pattern for token in _WILDCARDS)


class _RunTable:
    """Patterns by literal run, and the lengths of those runs."""

    def __init__(self) -> None:
        self.by_run: dict[str, list[str]] = {}
        self.lengths: list[int] = []

    def add(self, run: str, pattern: str) -> None:
        self.by_run.setdefault(run, []).append(pattern)
        if len(run) not in self.lengths:
            self.lengths.append(len(run))
            self.lengths.sort()


class _WildcardIndex:
    """Wildcard patterns indexed by one literal run each: the run fewest patterns share, then one that
    starts or ends the pattern (the value must then start or end with it: one look-up, not a scan), then
    the longest."""

    def __init__(self, patterns: Iterable[str], match: Callable[[str, str], bool]) -> None:
        self._match = match
        listed = list(dict.fromkeys(patterns))
        runs = {pattern: _runs(pattern) for pattern in listed}
        frequency: Counter[str] = Counter(run for found in runs.values() for run in set(found))
        self._prefix, self._suffix, self._inner = _RunTable(), _RunTable(), _RunTable()
        self._always: list[str] = []  # patterns without any literal run ("*", "?*"...)
        for pattern, found in runs.items():
            if not found:
                self._always.append(pattern)
                continue

            def place(run: str, pattern: str = pattern) -> _RunTable:
                if pattern.startswith(run):
                    return self._prefix
                return self._suffix if pattern.endswith(run) else self._inner

            key = min(found, key=lambda run: (frequency[run], place(run) is self._inner, -len(run)))
            place(key).add(key, pattern)

    def candidates(self, value: str) -> Iterator[str]:
        yield from self._always
        size = len(value)
        for length in self._prefix.lengths:
            if length > size:
                break
            yield from self._prefix.by_run.get(value[:length], ())
        for length in self._suffix.lengths:
            if length > size:
                break
            yield from self._suffix.by_run.get(value[size - length :], ())
        inner = self._inner.by_run
        for length in self._inner.lengths:
            if length > size:
                break
            for start in range(size - length + 1):
                found = inner.get(value[start : start + length])
                if found:
                    yield from found

    def matches(self, value: str) -> bool:
        return any(self._match(pattern, value) for pattern in self.candidates(value))


def _equals_ignore_case(pattern: str, value: str) -> bool:
    return pattern.casefold() == value.casefold()


def _equals(pattern: str, value: str) -> bool:
    return pattern == value


MATCHERS: dict[PatternKind, Callable[[str, str], bool]] = {
    "equals": _equals,
    "equals_ignore_case": _equals_ignore_case,
    "like": glob_match,
    "arn": arn_match,
    "action": action_matches,
    "resource": resource_matches,
}
SMALL = 8  # up to this many patterns, a scan is cheaper than building an index


class PatternSet:
    """Patterns of one kind, compiled: ``matches(value)`` is ``any(MATCHERS[kind](p, value) for p in patterns)``.

    Kinds, with the matcher each stands for:

    - ``equals``: ``p == value``; ``equals_ignore_case``: equal after ``casefold``;
    - ``like``: ``glob_match(p, value)`` (``StringLike``);
    - ``arn``: ``arn_match(p, value)`` (``ArnLike``, ``ArnEquals``);
    - ``action``: ``action_matches(p, value)`` (``*``, or a case-insensitive glob);
    - ``resource``: ``resource_matches(p, value)`` (``*``; two ARNs component by component; else a glob).
    """

    def __init__(self, patterns: Iterable[str], kind: PatternKind) -> None:
        self.kind = kind
        listed = list(dict.fromkeys(patterns))
        self._scan: tuple[str, ...] | None = tuple(listed) if len(listed) <= SMALL else None
        # For a small set of ARN or resource patterns: each pattern's six components (None: not an ARN).
        split = _six_parts if kind == "arn" else _arn_parts
        self._scan_parts = tuple(split(p) for p in self._scan or ()) if kind in ("arn", "resource") else ()
        self._everything = kind in ("action", "resource") and "*" in listed
        self._exact: frozenset[str] = frozenset()
        self._wild: _WildcardIndex | None = None
        self._arn_exact: frozenset[str] = frozenset()
        self._arn_wild: _WildcardIndex | None = None
        self._plain_exact: frozenset[str] = frozenset()
        self._plain_wild: _WildcardIndex | None = None
        if self._scan is not None or self._everything:
            return
        if kind == "action":
            listed = [pattern.lower() for pattern in listed]
        elif kind == "equals_ignore_case":
            listed = [pattern.casefold() for pattern in listed]
        elif kind == "arn":
            listed = [p for p in listed if len(p.split(":", 5)) == 6]  # the others match nothing
        if kind in ("equals", "equals_ignore_case"):
            self._exact = frozenset(listed)
            return
        self._exact = frozenset(p for p in listed if not _has_wildcard(p))
        wild = [p for p in listed if _has_wildcard(p)]
        if kind == "resource":
            # An ARN value is matched by ARN patterns component by component and by the others as a glob;
            # any other value by every pattern as a glob.
            arns = [p for p in listed if parse_arn(p) is not None]
            self._arn_exact = frozenset(p for p in arns if not _has_wildcard(p))
            self._arn_wild = _WildcardIndex((p for p in arns if _has_wildcard(p)), arn_match)
            self._plain_exact = frozenset(p for p in listed if parse_arn(p) is None and not _has_wildcard(p))
            self._plain_wild = _WildcardIndex((p for p in wild if parse_arn(p) is None), glob_match)
        self._wild = _WildcardIndex(wild, arn_match if kind == "arn" else glob_match)

    def matches(self, value: str) -> bool:
        if self._everything:
            return True
        if self._scan is not None:
            if self._scan_parts:
                return self._scan_components(self._scan, value)
            match = MATCHERS[self.kind]
            return any(match(pattern, value) for pattern in self._scan)
        if self.kind == "action":
            value = value.lower()
        elif self.kind == "equals_ignore_case":
            value = value.casefold()
        if self.kind == "resource" and parse_arn(value) is not None:
            return (
                value in self._arn_exact
                or _hit(self._arn_wild, value)
                or value in self._plain_exact
                or _hit(self._plain_wild, value)
            )
        return value in self._exact or _hit(self._wild, value)

    def _scan_components(self, scan: tuple[str, ...], value: str) -> bool:
        """``arn_match`` / ``resource_matches`` over a few patterns, their components split once."""
        value_parts = _six_parts(value) if self.kind == "arn" else _arn_parts(value)
        for pattern, parts in zip(scan, self._scan_parts, strict=True):
            if parts is not None and value_parts is not None:
                if all(glob_match(p, v) for p, v in zip(parts, value_parts, strict=True)):
                    return True
            elif self.kind == "resource" and glob_match(pattern, value):
                return True
        return False


def _six_parts(value: str) -> tuple[str, ...] | None:
    """The six colon-separated components ``arn_match`` compares (None when there are fewer)."""
    parts = value.split(":", 5)
    return tuple(parts) if len(parts) == 6 else None


def _arn_parts(value: str) -> tuple[str, ...] | None:
    """The six components of what ``parse_arn`` takes for an ARN (``arn:`` and five colons), else None."""
    parts = _six_parts(value)
    return parts if parts is not None and parts[0] == "arn" else None


def _hit(index: _WildcardIndex | None, value: str) -> bool:
    return index is not None and index.matches(value)
