"""Publishes one SNS message per non-compliant resource (docs/findings.md)."""

from __future__ import annotations

import json
from typing import Protocol

from trailguard.findings import Report
from trailguard.observability import logger
from trailguard.sessions import SessionFactory


class Publisher(Protocol):
    def publish(self, report: Report) -> str: ...


class SnsPublisher:
    def __init__(self, sessions: SessionFactory, topic_arn: str) -> None:
        parts = topic_arn.split(":")
        self._client = sessions.client("sns", parts[4], parts[3])
        self._topic_arn = topic_arn

    def publish(self, report: Report) -> str:
        response = self._client.publish(
            TopicArn=self._topic_arn,
            Subject=report.subject(),
            Message=json.dumps(report.to_message(), indent=2),
            MessageAttributes=report.attributes(),
        )
        message_id = str(response["MessageId"])
        logger.info(
            "finding published",
            resource_arn=report.resource.arn,
            status=report.status.value,
            severity=report.severity.name,
            checks=[finding.check for finding in report.findings],
            message_id=message_id,
        )
        return message_id
