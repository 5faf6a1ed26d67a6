"""The EventBridge envelope is read as strictly as Powertools' parser reads it, without importing that parser.

`ApiCallEvent` once extended Powertools' `EventBridgeModel` and was parsed with its `parse`; importing the parser
builds a model for every event source AWS has, which the handlers paid at every cold start. The envelope is now
TrailGuard's own model. These tests hold it to the old definition, kept here as the reference: every sample
event, and every sample with each envelope field removed or replaced by values of every JSON type, is accepted
or refused alike, with the same values or the same errors in the same order.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Annotated, Any

import pytest
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from pydantic import BeforeValidator, ValidationError, model_validator

from trailguard.errors import EventParseError
from trailguard.events import AccountId, ApiCallEvent, CloudTrailRecord, _envelope_id, parse_api_call

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"
SAMPLES = sorted(p for p in EVENTS.rglob("*.json") if p.parent.name != "schedule")
ENVELOPE = ("version", "id", "source", "account", "time", "region", "resources", "detail-type", "detail")
VALUES: tuple[Any, ...] = (
    None,
    "",
    "x",
    "{}",
    0,
    1.5,
    True,
    [],
    ["arn:aws:cloudtrail:eu-west-1:111111111111:trail/t"],
    [1],
    {},
    {"eventName": "StopLogging"},
    "2026-03-14",
    "2026-02-30T00:00:00Z",
    "2026-03-14T09:30:42.123+02:00",
    1773480642,
    "1773480642",
    "111111111111",
)


class ReferenceEvent(EventBridgeModel):
    """ApiCallEvent as it was: Powertools' envelope model, with TrailGuard's id, account and record."""

    id: Annotated[str, BeforeValidator(_envelope_id)] = ""
    account: AccountId
    detail: CloudTrailRecord

    @model_validator(mode="after")
    def _has_a_key(self) -> ReferenceEvent:
        if not (self.detail.eventID or self.id):
            raise ValueError("the event has neither detail.eventID nor an envelope id")
        return self


def outcome(validate: Any, event: Any) -> tuple[str, Any]:
    try:
        model = validate(event)
    except ValidationError as error:
        return "refused", [(e["loc"], e["type"], e["msg"]) for e in error.errors(include_url=False)]
    return "accepted", model.model_dump(mode="json", by_alias=True)


def both(event: Any) -> tuple[tuple[str, Any], tuple[str, Any]]:
    return outcome(ApiCallEvent.model_validate, event), outcome(lambda e: parse(event=e, model=ReferenceEvent), event)


def load(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.read_text()))


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: str(p.relative_to(EVENTS)))
def test_every_sample_reads_the_same(path: Path) -> None:
    mine, reference = both(load(path))
    assert mine[0] == "accepted"
    assert mine == reference


def variants(event: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The event with each envelope field removed, then replaced by each value of VALUES; and renamed fields."""
    found: list[tuple[str, dict[str, Any]]] = []
    for field in ENVELOPE:
        without = copy.deepcopy(event)
        del without[field]
        found.append((f"no {field}", without))
        for value in VALUES:
            changed = copy.deepcopy(event)
            changed[field] = value
            found.append((f"{field}={value!r}", changed))
    renamed = copy.deepcopy(event)
    renamed["detail_type"] = renamed.pop("detail-type")
    found.append(("detail_type by name", renamed))
    replay = {**copy.deepcopy(event), "replay-name": "archive-replay"}
    found.append(("replayed", replay))
    found += [(f"replay-name={v!r}", {**copy.deepcopy(event), "replay-name": v}) for v in (None, 1, [])]
    scheduler = {**copy.deepcopy(event), "source": "aws.scheduler", "detail": "{}"}
    found.append(("scheduler with an empty detail", scheduler))
    no_ids = copy.deepcopy(event)
    no_ids["id"] = ""
    no_ids["detail"].pop("eventID", None)
    found.append(("neither id", no_ids))
    return found


@pytest.mark.parametrize(
    "path",
    [EVENTS / "trail" / "create_trail_us_east_1.json", EVENTS / "key" / "put_key_policy.json"],
    ids=lambda p: p.name,
)
def test_every_envelope_variant_is_accepted_or_refused_alike(path: Path) -> None:
    differing = []
    outcomes = set()
    for label, event in variants(load(path)):
        mine, reference = both(event)
        outcomes.add(mine[0])
        if mine != reference:
            differing.append((label, mine, reference))
    assert differing == []
    assert outcomes == {"accepted", "refused"}  # the variants exercise both sides


def test_a_bad_envelope_is_refused_with_the_reason_of_the_first_field() -> None:
    event = load(EVENTS / "trail" / "stop_logging.json")
    event["time"] = "yesterday"
    event["resources"] = "none"

    with pytest.raises(EventParseError, match=r"^time: Input should be a valid datetime.*\(2 problems\)$"):
        parse_api_call(event)


def test_the_handlers_import_no_powertools_parser() -> None:
    probe = (
        "import importlib.util, json, sys\n"
        f"for folder in {[str(p.parent) for p in sorted((ROOT / 'functions').glob('*/app.py'))]!r}:\n"
        "    spec = importlib.util.spec_from_file_location('app_' + folder.rsplit('/', 1)[1], folder + '/app.py')\n"
        "    spec.loader.exec_module(importlib.util.module_from_spec(spec))\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('aws_lambda_powertools.utilities.parser'))))\n"
    )
    environment = {"PYTHONPATH": str(ROOT / "layers" / "trailguard"), "AWS_REGION": "eu-west-1"}
    done = subprocess.run(  # noqa: S603 - this interpreter, a fixed probe
        [sys.executable, "-c", probe], capture_output=True, text=True, env=environment, check=True, cwd=ROOT
    )
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
