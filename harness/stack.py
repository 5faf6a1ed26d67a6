"""The deployed stack, in-process: events go through template.yaml's rules to the real handlers.

Used by the integration tests and by `make demo`, so both take the path production takes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from harness.org import EVENTS, HOME, SimulatedOrg
from harness.routing import invoke, lambda_context, load_module, route
from harness.template import FunctionSpec, QueueSource, functions, load_template
from trailguard.settings import Settings
from trailguard.warm import Warm

SetEnv = Callable[[str, str], None]
_SETTINGS = [field.alias for field in Settings.model_fields.values() if field.alias]


class Clock:
    """The time a simulated container sees: the real time, moved forward only when a test or the demo says so."""

    def __init__(self) -> None:
        self.now = 1_000.0
        self.ahead = timedelta()

    def __call__(self) -> float:
        return self.now

    def wall(self) -> datetime:
        return datetime.now(UTC) + self.ahead

    def advance(self, seconds: float) -> None:
        self.now += seconds
        self.ahead += timedelta(seconds=seconds)


def _setenv(name: str, value: str) -> None:
    os.environ[name] = value


class InProcessStack:
    def __init__(self, org: SimulatedOrg, setenv: SetEnv = _setenv) -> None:
        self.org = org
        self._setenv = setenv
        self.specs: list[FunctionSpec] = functions(load_template(), parameters=org.parameters())
        self.specs_by_id = {spec.logical_id: spec for spec in self.specs}
        self.configure()
        for name, value in org.function_credentials().items():
            setenv(name, value)
        self.clock = Clock()
        self.cold_start()

    def cold_start(self) -> None:
        """A new deployment: every function starts in a cold container (nothing kept from an earlier stack)."""
        for spec in self.specs:
            module = load_module(spec)
            if isinstance(getattr(module, "CONTAINER", None), Warm):
                setattr(module, "CONTAINER", Warm(clock=self.clock, wall=self.clock.wall))  # noqa: B010 - the handler module's own name

    def later(self, seconds: float) -> None:
        """Let time pass for the warm containers (what they keep expires)."""
        self.clock.advance(seconds)

    def configure(self, **overrides: str) -> None:
        """Set the functions' environment as template.yaml wires it from the parameters, then the overrides
        (the variables of docs/configuration.md), e.g. configure(TRAILGUARD_MODE="report")."""
        environment = dict(self.specs[0].environment)
        unresolved = sorted(name for name, value in environment.items() if not isinstance(value, str))
        if unresolved:
            raise ValueError(f"template environment variables left unresolved: {unresolved}")
        environment.update(overrides)
        for name in _SETTINGS:  # a variable an earlier configure() set and this one does not: unset
            environment.setdefault(name, "")
        for name, value in environment.items():
            self._setenv(name, value)

    def targets(self, event: dict[str, Any]) -> list[FunctionSpec]:
        return route(event, self.specs)

    def send(self, event: dict[str, Any] | str) -> dict[str, Any]:
        """Route one event (a dict, or a path under events/); it must reach exactly one function."""
        if isinstance(event, str):
            event = self.org.event(event)
        targets = self.targets(event)
        if len(targets) != 1:
            raise AssertionError(f"event routes to {[t.logical_id for t in targets]}, not to exactly one function")
        return self.invoke(targets[0].logical_id, event)

    def invoke(self, logical_id: str, event: dict[str, Any]) -> dict[str, Any]:
        """Call one function directly, as a retry or a redelivery would."""
        spec = self.specs_by_id[logical_id]
        result: dict[str, Any] = invoke(spec, event, lambda_context(spec, account=self.org.central))
        return result

    # The sweep, as AWS runs it: the schedule starts the planner, the planner fills the sweep queue, and
    # Lambda's SQS event source hands the queue's messages to the workers in batches.

    def schedule_target(self) -> FunctionSpec:
        """The function the sweep's schedule invokes (a ScheduleV2 or Schedule event in template.yaml)."""
        scheduled = [
            spec
            for spec in self.specs
            for events in [spec.properties.get("Events", {}).values()]
            if any(event.get("Type") in ("Schedule", "ScheduleV2") for event in events)
        ]
        if len(scheduled) != 1:
            raise AssertionError(f"the schedule starts {[spec.logical_id for spec in scheduled]}, not one function")
        return scheduled[0]

    def queue_consumer(self, queue: str) -> tuple[FunctionSpec, QueueSource]:
        """The function whose SQS event source reads `queue` (a logical id of template.yaml)."""
        found = [(spec, source) for spec in self.specs for source in spec.queues if source.queue == queue]
        if len(found) != 1:
            raise AssertionError(f"queue {queue} is read by {[spec.logical_id for spec, _ in found]}, not one function")
        return found[0]

    def sweep(self, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """Run one sweep to its end: the planner, then the workers until the queue is empty. Returns the sweep's
        summary as the last worker published it (or the planner's result if no summary was published)."""
        planner = self.schedule_target()
        scheduled = event if event is not None else json.loads((EVENTS / "schedule" / "sweep.json").read_text())
        planned = self.invoke(planner.logical_id, scheduled)
        self.drain("SweepQueue")
        summary = self.org.latest_summary()
        return {"result": "swept", **summary} if summary is not None else planned

    def drain(self, queue: str) -> None:
        """Deliver `queue`'s messages to its consumer in batches, as Lambda's event source does: a record the
        function reports as failed is delivered again (its receive count grows) until the queue's redrive policy
        moves it to the dead-letter queue."""
        spec, source = self.queue_consumer(queue)
        sqs = self.org.client("sqs", self.org.central)
        url = self.org.sweep_queue_url
        arn = self.org.queue_arn(url)
        while True:
            received = sqs.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=min(source.batch_size, 10),
                AttributeNames=["All"],
                VisibilityTimeout=30,
            ).get("Messages", [])
            if not received:
                return
            records = [sqs_record(message, arn) for message in received]
            response = self.invoke(spec.logical_id, {"Records": records})
            failed = {item["itemIdentifier"] for item in (response or {}).get("batchItemFailures", [])}
            if not source.partial_failures and failed:
                failed = {message["MessageId"] for message in received}
            settle(sqs, url, received, failed)

    def dead_letters(self) -> list[dict[str, Any]]:
        """The sweep messages that went to the sweep's work dead-letter queue."""
        sqs = self.org.client("sqs", self.org.central)
        found = sqs.receive_message(QueueUrl=self.org.sweep_dead_letter_url, MaxNumberOfMessages=10).get("Messages", [])
        return [json.loads(message["Body"]) for message in found]


def settle(sqs: Any, url: str, received: list[dict[str, Any]], failed: set[str]) -> None:
    """What Lambda's SQS event source does after a batch: the records reported as failed become visible again
    (here at once: the next receive delivers them again, their receive count grown), the others are deleted."""
    for message in received:
        if message["MessageId"] in failed:
            sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)
        else:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def sqs_record(message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    """One record of the event Lambda's SQS event source sends."""
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": {
            "ApproximateReceiveCount": message.get("Attributes", {}).get("ApproximateReceiveCount", "1"),
            "SentTimestamp": message.get("Attributes", {}).get("SentTimestamp", "0"),
            "SenderId": message.get("Attributes", {}).get("SenderId", ""),
            "ApproximateFirstReceiveTimestamp": message.get("Attributes", {}).get(
                "ApproximateFirstReceiveTimestamp", "0"
            ),
        },
        "messageAttributes": {},
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": HOME,
    }
