"""Every log line is capped and escaped by the logger itself: no call site can emit a huge or lost line."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest

from trailguard.logline import (
    MAX_DEPTH,
    MAX_ITEMS,
    MAX_LINE_CHARS,
    MAX_TRACE_CHARS,
    MAX_VALUE_CHARS,
    log_line,
)
from trailguard.observability import logger


@pytest.fixture
def strict_stream() -> Iterator[io.BytesIO]:
    """The package logger writing to a strict UTF-8 stream, as Lambda's stdout is: an unencodable line fails."""
    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding="utf-8", errors="strict", write_through=True)
    handler = logger.registered_handler
    previous = handler.setStream(stream)
    try:
        yield raw
    finally:
        handler.setStream(previous)


def lines(raw: io.BytesIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in raw.getvalue().decode("utf-8").splitlines()]


def test_a_huge_value_is_capped_with_its_length(strict_stream: io.BytesIO) -> None:
    logger.warning("event dropped", reason="x" * 901_158)

    (line,) = lines(strict_stream)
    assert line["message"] == "event dropped"
    assert line["reason"].startswith("x" * MAX_VALUE_CHARS)
    assert line["reason"].endswith("(+900134 chars)")
    assert len(strict_stream.getvalue()) < 2 * MAX_VALUE_CHARS


def test_a_lone_surrogate_is_escaped_and_the_line_is_written(strict_stream: io.BytesIO) -> None:
    logger.info("trail repaired", trail_arn="arn:aws:cloudtrail:eu-west-1:333333333333:trail/a\ud800b")

    (line,) = lines(strict_stream)
    assert line["trail_arn"] == "arn:aws:cloudtrail:eu-west-1:333333333333:trail/a\\ud800b"


def test_surrogates_in_keys_nested_values_and_the_message_are_escaped(strict_stream: io.BytesIO) -> None:
    logger.info("odd \udcff message", changes=["\ud83d", {"k\udfff": ("\ud800",)}])

    (line,) = lines(strict_stream)
    assert line["message"] == "odd \\udcff message"
    assert line["changes"] == ["\\ud83d", {"k\\udfff": ["\\ud800"]}]


def test_valid_unicode_is_kept_as_it_is(strict_stream: io.BytesIO) -> None:
    logger.info("bucket compliant", bucket="journaux-été-😀")

    assert lines(strict_stream)[0]["bucket"] == "journaux-été-😀"


def test_a_message_that_looks_like_json_is_not_parsed(strict_stream: io.BytesIO) -> None:
    logger.info("[" * 100_000 + "]" * 100_000)

    (line,) = lines(strict_stream)
    assert line["message"].startswith("[" * MAX_VALUE_CHARS)


def test_an_exception_keeps_a_longer_but_bounded_traceback(strict_stream: io.BytesIO) -> None:
    try:
        raise ValueError("boom " + "y" * 100_000)
    except ValueError:
        logger.exception("event failed; Lambda will retry it", error="ValueError")

    (line,) = lines(strict_stream)
    assert "Traceback" in line["exception"]
    assert MAX_VALUE_CHARS < len(line["exception"]) < MAX_TRACE_CHARS + 100
    assert len(strict_stream.getvalue()) < MAX_LINE_CHARS


def test_containers_are_cut_in_width_and_depth() -> None:
    deep: Any = "bottom"
    for _ in range(100):
        deep = [deep]

    line = json.loads(log_line({"many": list(range(10_000)), "deep": deep, "map": {str(i): i for i in range(500)}}))

    assert line["many"][:MAX_ITEMS] == list(range(MAX_ITEMS))
    assert line["many"][-1] == f"...+{10_000 - MAX_ITEMS} more"
    assert len(line["map"]) == MAX_ITEMS + 1
    inner = line["deep"]
    for _ in range(MAX_DEPTH - 1):
        inner = inner[0]
    assert inner == [f"<list nested deeper than {MAX_DEPTH}>"]


def test_a_whole_line_is_bounded_however_many_values_it_has() -> None:
    record = {f"key{i}": "v" * 5000 for i in range(200)}

    assert len(log_line(record)) < MAX_LINE_CHARS + 200 * 40


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (10**5000, "<16610-bit integer>"),
        (float("nan"), "nan"),
        (b"\xff\xfe", "b'\\xff\\xfe'"),
        ({1, 2}, [1, 2]),
        (12, 12),
        (None, None),
        (True, True),
    ],
    ids=["huge-int", "nan", "bytes", "set", "int", "none", "bool"],
)
def test_values_json_cannot_carry_are_shown_as_text(value: Any, shown: Any) -> None:
    assert json.loads(log_line({"value": value}))["value"] == shown


def test_an_object_whose_text_fails_costs_only_its_value() -> None:
    class Broken:
        def __str__(self) -> str:
            raise RuntimeError("no")

    assert json.loads(log_line({"value": Broken(), "other": "kept"})) == {"value": "<Broken>", "other": "kept"}
