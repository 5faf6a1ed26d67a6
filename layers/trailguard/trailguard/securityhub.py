"""Findings mirrored into AWS Security Hub (optional, TRAILGUARD_SECURITY_HUB=true), as ASFF.

Each finding of a published message is imported with a stable id (resource ARN and check), so a later import
updates it: an OPEN or REMEDIATION_FAILED finding is ACTIVE with workflow NEW; a REMEDIATED or RESOLVED one is
workflow RESOLVED and record state ARCHIVED, with compliance PASSED. BatchImportFindings takes 100 findings a
call; what it refuses is logged and raised, so the event is retried.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from trailguard.findings import Finding, Report
from trailguard.observability import logger
from trailguard.vocabulary import ResourceType, Status

BATCH = 100  # BatchImportFindings' limit per call
SCHEMA_VERSION = "2018-10-08"
TYPES = {  # ASFF resource types
    ResourceType.TRAIL: "AwsCloudTrailTrail",
    ResourceType.KEY: "AwsKmsKey",
    ResourceType.BUCKET: "AwsS3Bucket",
    ResourceType.ACCOUNT: "AwsAccount",
}
CLOSED = (Status.REMEDIATED, Status.RESOLVED)


def product_arn(partition: str, region: str, account: str) -> str:
    """The account's own product ARN: where custom findings are imported."""
    return f"arn:{partition}:securityhub:{region}:{account}:product/{account}/default"


def asff(report: Report, finding: Finding, product: str, now: datetime) -> dict[str, Any]:
    """One finding as ASFF. Findings imported to an account's own default product must carry that account's
    id: the resource's account is in the resource ARN and in ProductFields."""
    resource = report.resource
    importer = product.split(":")[4]
    closed = finding.status in CLOSED
    stamp = now.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    requirements = list(finding.to_dict()["compliance"])
    return {
        "SchemaVersion": SCHEMA_VERSION,
        "Id": f"{resource.arn}/{finding.check}",
        "ProductArn": product,
        "GeneratorId": f"trailguard/{finding.check}",
        "AwsAccountId": importer,
        "Types": ["Software and Configuration Checks/AWS Security Best Practices"],
        "CreatedAt": stamp,
        "UpdatedAt": stamp,
        "Severity": {"Label": "INFORMATIONAL" if closed else finding.severity.name},
        "Title": f"TrailGuard {finding.check}: {finding.summary}"[:256],
        "Description": report.text()[:1024],
        "Remediation": {"Recommendation": {"Text": finding.to_dict()["remediation"]["error"] or _fix(finding)}},
        "ProductFields": {
            "trailguard/check": finding.check,
            "trailguard/status": finding.status.value,
            "trailguard/account": resource.account,
        },
        "Resources": [{"Type": TYPES[resource.type], "Id": resource.arn, "Region": resource.region}],
        "Compliance": {
            "Status": "PASSED" if closed else "FAILED",
            **({"RelatedRequirements": requirements[:32]} if requirements else {}),
        },
        "Workflow": {"Status": "RESOLVED" if closed else "NEW"},
        "RecordState": "ARCHIVED" if closed else "ACTIVE",
    }


def _fix(finding: Finding) -> str:
    from trailguard.catalogue import check

    return check(finding.check).fix[:512]


class SecurityHubMirror:
    def __init__(self, client: Any, product: str) -> None:
        self._client = client
        self._product = product

    def mirror(self, report: Report, now: datetime) -> None:
        findings = [asff(report, finding, self._product, now) for finding in report.findings]
        for batch in _batches(findings):
            response = self._client.batch_import_findings(Findings=batch)
            if response.get("FailedCount"):
                failed = response.get("FailedFindings", [])
                logger.error("Security Hub refused findings", failed=failed[:5], count=response["FailedCount"])
                raise RuntimeError(f"Security Hub refused {response['FailedCount']} finding(s): {failed[:1]}")
        logger.info("findings mirrored to Security Hub", resource_arn=report.resource.arn, count=len(findings))


def _batches(items: list[dict[str, Any]]) -> Iterable[list[dict[str, Any]]]:
    for start in range(0, len(items), BATCH):
        yield items[start : start + BATCH]
