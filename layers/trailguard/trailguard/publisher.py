"""Publishes one SNS message per change of a resource's findings (docs/findings.md), one text per protocol."""

from __future__ import annotations

import json
from typing import Protocol

from trailguard.findings import Report, SweepSummary
from trailguard.observability import count, logger
from trailguard.securityhub import SecurityHubMirror
from trailguard.sessions import SessionFactory


class Publisher(Protocol):
    def publish(self, report: Report) -> str: ...

    def publish_summary(self, summary: SweepSummary) -> str: ...


def structured(report: Report, *, chat: bool = False) -> dict[str, str]:
    """One text per subscription protocol: e-mail subscribers read the human text, every other protocol gets
    the JSON document unchanged (with `chat`, HTTPS subscribers such as AWS Chatbot get a custom notification)."""
    document = json.dumps(report.to_message(), indent=2)
    texts = dict.fromkeys(("default", "sqs", "lambda", "http", "https", "email-json"), document)
    texts["email"] = report.email()
    if chat:
        texts["https"] = json.dumps(report.chat())
    return texts


class SnsPublisher:
    def __init__(
        self, sessions: SessionFactory, topic_arn: str, *, chat: bool = False, hub: SecurityHubMirror | None = None
    ) -> None:
        parts = topic_arn.split(":")
        self._client = sessions.client("sns", parts[4], parts[3])
        self._topic_arn = topic_arn
        self._chat = chat
        self._hub = hub  # Security Hub mirrors the findings too (optional)

    def publish(self, report: Report) -> str:
        response = self._client.publish(
            TopicArn=self._topic_arn,
            Subject=report.subject(),
            Message=json.dumps(structured(report, chat=self._chat)),
            MessageStructure="json",
            MessageAttributes=report.attributes(),
        )
        message_id = str(response["MessageId"])
        if self._hub is not None:
            try:
                self._hub.mirror(report, report.time)
            except Exception as error:  # noqa: BLE001 - the message went out: Security Hub must not repeat it
                count("securityhub_failed")
                logger.error(
                    "findings not mirrored to Security Hub", error=str(error), resource_arn=report.resource.arn
                )
        logger.info(
            "finding published",
            resource_arn=report.resource.arn,
            status=report.status.value,
            severity=report.severity.name,
            checks=[finding.check for finding in report.findings],
            message_id=message_id,
        )
        return message_id

    def publish_summary(self, summary: SweepSummary) -> str:
        document = json.dumps(summary.to_message(), indent=2)
        texts = dict.fromkeys(("default", "sqs", "lambda", "http", "https", "email-json"), document)
        texts["email"] = summary.text()
        response = self._client.publish(
            TopicArn=self._topic_arn,
            Subject=summary.subject(),
            Message=json.dumps(texts),
            MessageStructure="json",
            MessageAttributes=summary.attributes(),
        )
        message_id = str(response["MessageId"])
        logger.info("sweep summary published", message_id=message_id)
        return message_id
