"""`make demo`: a simulated organization on moto, drift made by hand, events through template.yaml, findings.

Every scenario states what TrailGuard must answer; the demo exits non-zero if any answer differs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import textwrap
from typing import Any

from demo.scenarios import SCENARIOS, Scenario


def _environment(verbose: bool) -> dict[str, str]:
    """Fake credentials for moto; without --verbose, the functions' logs and metrics are silenced."""
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "demo")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "demo")
    os.environ["AWS_DEFAULT_REGION"] = os.environ["AWS_REGION"] = "eu-west-1"
    os.environ["POWERTOOLS_TRACE_DISABLED"] = "true"
    return {} if verbose else {"POWERTOOLS_LOG_LEVEL": "CRITICAL", "POWERTOOLS_METRICS_DISABLED": "true"}


def _event(org: Any, scenario: Scenario) -> dict[str, Any]:
    event: dict[str, Any] = org.event(scenario.event)
    if scenario.trail_name:
        text = json.dumps(event).replace('"audit-trail"', f'"{scenario.trail_name}"')
        event = json.loads(text.replace("trail/audit-trail", f"trail/{scenario.trail_name}"))
    return event


def run(verbose: bool = False) -> int:
    quiet = _environment(verbose)
    from moto import mock_aws

    from harness.faults import injecting
    from harness.org import CENTRAL, MANAGEMENT, MEMBER_A, MEMBER_B, ORG_ID, build_org
    from harness.stack import InProcessStack

    failures = 0
    with mock_aws(), injecting() as faults:
        org = build_org()
        stack = InProcessStack(org)
        stack.configure(**quiet)
        if quiet:  # the functions' logger read the template's level when the handlers were imported
            from trailguard.observability import logger

            logger.setLevel(quiet["POWERTOOLS_LOG_LEVEL"])
        print("TrailGuard demo: a simulated organization on moto")
        print(f"  organization {ORG_ID}: management {MANAGEMENT}, central {CENTRAL}, members {MEMBER_A} and {MEMBER_B}")
        print(f"  central key  {org.key_arn}")
        print(f"  log bucket   {org.bucket}")
        print(f"  functions    {', '.join(spec.logical_id for spec in stack.specs)} (wired from template.yaml)")
        for number, scenario in enumerate(SCENARIOS, 1):
            stack.later(3600)  # each scenario an hour after the last: what containers keep has expired
            stack.configure(**quiet, **scenario.settings)
            scenario.setup(org)
            faults.clear()
            for operation, code, message in scenario.refusals:
                faults.fail(operation, code, message)
            event = _event(org, scenario)
            if scenario.event.startswith("schedule/"):  # what EventBridge Scheduler sends the sweep
                target, name = (
                    [stack.schedule_target().logical_id, stack.queue_consumer("SweepQueue")[0].logical_id],
                    "schedule",
                )
                result = stack.sweep(event)
            else:
                target, name = [spec.logical_id for spec in stack.targets(event)], event["detail"]["eventName"]
                result = stack.send(event)
            findings = org.findings()
            faults.clear()
            if scenario.teardown:
                scenario.teardown(org)
            ok = result.get("result") == scenario.expect
            failures += not ok
            print(f"\n{number:2}. {scenario.title}")
            print(
                f"    {name} -> {', '.join(target)} -> {result.get('result')}"
                f"{'' if ok else f'   <-- EXPECTED {scenario.expect}'}"
            )
            for published in findings:
                print(f"    SNS  {published['subject']}")
                print(
                    textwrap.fill(
                        published["message"]["text"],
                        width=110,
                        initial_indent="         ",
                        subsequent_indent="         ",
                    )
                )
            if not findings:
                print("    SNS  (nothing published)")
    print(f"\n{len(SCENARIOS) - failures} of {len(SCENARIOS)} scenarios answered as expected.")
    return 1 if failures else 0


def main() -> int:
    parser = argparse.ArgumentParser(prog="make demo", description=__doc__)
    parser.add_argument("--verbose", action="store_true", help="show the functions' structured logs and metrics")
    return run(parser.parse_args().verbose)


if __name__ == "__main__":
    sys.exit(main())
