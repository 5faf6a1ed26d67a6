"""The trail guard end to end under moto: events from events/ routed through template.yaml to the handler.

The simulated organization: management 111111111111, central 222222222222 (key, bucket, TrailGuard),
members 333333333333 and 012345678901, regions eu-west-1 (key and bucket) and us-east-1.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from harness.calls import ApiCalls
from harness.faults import Faults
from harness.org import HOME, MANAGEMENT, MEMBER_A, MEMBER_B, OTHER
from harness.routing import load_module
from harness.stack import InProcessStack as Stack
from tests.conftest import only
from trailguard.warm import Warm

MEMBER_A_TRAIL = f"arn:aws:cloudtrail:{HOME}:{MEMBER_A}:trail/audit-trail"
STS = ("AssumeRole", "GetCallerIdentity")
# What explaining a key refusal reads: the central key's facts and the central bucket's region.
KEY_READS = ("DescribeKey", "GetKeyRotationStatus", "GetKeyPolicy", "GetBucketLocation")


def finding(message: dict[str, Any], check: str) -> dict[str, Any]:
    matches = [item for item in message["findings"] if item["check"] == check]
    assert len(matches) == 1, message["findings"]
    return matches[0]


def test_create_trail_without_key_is_repaired_to_the_central_key(stack: Stack) -> None:
    # Given a member creates a trail in eu-west-1 without a KMS key
    org = stack.org
    arn = org.create_trail(MEMBER_A, "audit-trail", key=None)

    # When the CreateTrail event arrives
    result = stack.send("trail/create_trail_no_key.json")

    # Then the trail uses the central key, and one REMEDIATED finding says who did it
    assert org.trail(arn)["KmsKeyId"] == org.key_arn
    assert result["result"] == "remediated"
    published = only(org.findings())
    message = published["message"]
    assert message["schema"] == "trailguard.finding/1"
    assert message["resource"] == {"type": "trail", "arn": arn, "account": MEMBER_A, "region": HOME}
    assert message["status"] == "REMEDIATED"
    assert message["mode"] == "remediate"
    encryption = finding(message, "trail.encryption")
    assert encryption["status"] == "REMEDIATED"
    assert encryption["severity"] == "HIGH"
    assert encryption["remediation"] == {"action": "cloudtrail:UpdateTrail", "error": None}
    assert encryption["observed"] == {"KmsKeyId": None}
    assert encryption["expected"] == {"KmsKeyId": org.key_arn}
    assert "CIS AWS Foundations 3.5" in encryption["compliance"]
    assert message["trigger"]["type"] == "event"
    assert message["trigger"]["event_name"] == "CreateTrail"
    assert message["trigger"]["actor"].startswith("arn:aws:")
    assert published["attributes"]["status"] == "REMEDIATED"
    assert published["attributes"]["account"] == MEMBER_A
    assert published["attributes"]["resource_type"] == "trail"
    assert "trail.encryption" in json.loads(published["attributes"]["checks"])
    assert len(published["subject"]) < 100
    assert "audit-trail" in message["text"]
    assert "CreateTrail" in message["text"]


def test_trail_in_a_second_region_and_account_with_leading_zero_is_repaired(stack: Stack) -> None:
    # Given member 012345678901 creates a trail in us-east-1 that delivers to the central bucket in eu-west-1
    org = stack.org
    arn = org.create_trail(MEMBER_B, "audit-trail", OTHER, key=None)

    stack.send("trail/create_trail_us_east_1.json")

    # Then the trail is repaired in its home region with the member's credentials
    assert org.trail(arn)["KmsKeyId"] == org.key_arn
    message = only(org.findings())["message"]
    assert message["resource"]["account"] == "012345678901"
    assert message["resource"]["region"] == OTHER
    assert finding(message, "trail.encryption")["status"] == "REMEDIATED"


def test_console_update_that_removes_the_key_by_arn_is_repaired(stack: Stack) -> None:
    org = stack.org
    arn = org.create_trail(MEMBER_A, "audit-trail")
    org.client("cloudtrail", MEMBER_A).update_trail(Name=arn, KmsKeyId="")

    stack.send("trail/update_trail_remove_key_console.json")

    assert org.trail(arn)["KmsKeyId"] == org.key_arn
    message = only(org.findings())["message"]
    assert finding(message, "trail.encryption")["status"] == "REMEDIATED"
    assert message["trigger"]["actor"].startswith("arn:aws:sts::")


def test_update_to_another_key_is_repaired(stack: Stack) -> None:
    org = stack.org
    other_key = "arn:aws:kms:eu-west-1:333333333333:key/0987dcba-09fe-87dc-65ba-ab0987654321"
    arn = org.create_trail(MEMBER_A, "audit-trail", key=other_key)

    stack.send("trail/update_trail_other_key.json")

    assert org.trail(arn)["KmsKeyId"] == org.key_arn
    encryption = finding(only(org.findings())["message"], "trail.encryption")
    assert encryption["observed"] == {"KmsKeyId": other_key}
    assert encryption["status"] == "REMEDIATED"


def test_stop_logging_is_undone(stack: Stack) -> None:
    org = stack.org
    arn = org.create_trail(MEMBER_A, "audit-trail")
    org.client("cloudtrail", MEMBER_A).stop_logging(Name=arn)

    stack.send("trail/stop_logging.json")

    assert org.trail(arn)["IsLogging"] is True
    message = only(org.findings())["message"]
    assert [item["check"] for item in message["findings"]] == ["trail.logging"]
    assert message["findings"][0]["remediation"]["action"] == "cloudtrail:StartLogging"
    assert message["status"] == "REMEDIATED"


def test_compliant_trail_gets_no_write_and_no_message(stack: Stack, api_calls: ApiCalls) -> None:
    org = stack.org
    org.create_trail(MEMBER_A, "audit-trail")
    api_calls.reset()

    result = stack.send("trail/create_trail_central_key.json")

    assert result["result"] == "compliant"
    assert api_calls.writes() == []
    assert org.findings() == []


def test_failed_call_changes_nothing_and_says_nothing(stack: Stack, api_calls: ApiCalls) -> None:
    org = stack.org
    org.create_trail(MEMBER_A, "audit-trail", key=None)
    event = org.event("trail/unrouted/update_trail_failed.json")
    api_calls.reset()

    # The rule filters failed calls out; even delivered by hand, the handler ignores them.
    result = stack.invoke("TrailGuardFunction", event)

    assert result["result"] == "ignored"
    assert api_calls.writes() == []
    assert org.findings() == []


def test_report_mode_writes_nothing_and_reports_open(stack: Stack, api_calls: ApiCalls) -> None:
    org = stack.org
    stack.configure(TRAILGUARD_MODE="report")
    arn = org.create_trail(MEMBER_A, "audit-trail", key=None)
    api_calls.reset()

    stack.send("trail/create_trail_no_key.json")

    assert api_calls.writes() == []
    assert "KmsKeyId" not in org.trail(arn)
    message = only(org.findings())["message"]
    assert message["mode"] == "report"
    assert message["status"] == "OPEN"
    assert finding(message, "trail.encryption")["status"] == "OPEN"
    assert "Report mode" in message["text"]


def test_a_trail_the_security_team_exempts_is_untouched_and_unreported(stack: Stack, api_calls: ApiCalls) -> None:
    org = stack.org
    arn = org.create_trail(MEMBER_A, "audit-trail", key=None)
    stack.configure(
        TRAILGUARD_EXEMPT_TRAILS=f"arn:aws:cloudtrail:*:{MEMBER_A}:trail/audit-*;reason=vendor trail;expires=2999-12-31"
    )
    api_calls.reset()

    result = stack.send("trail/create_trail_no_key.json")

    assert result["result"] == "exempt"
    assert result["reason"] == "vendor trail"
    assert api_calls.writes() == []
    assert "KmsKeyId" not in org.trail(arn)
    assert org.findings() == []


def test_an_expired_exemption_exempts_nothing(stack: Stack) -> None:
    stack.org.create_trail(MEMBER_A, "audit-trail", key=None)
    stack.configure(TRAILGUARD_EXEMPT_TRAILS=f"arn:aws:cloudtrail:*:{MEMBER_A}:trail/*;expires=2020-01-01")

    assert stack.send("trail/create_trail_no_key.json")["result"] == "remediated"


def test_a_member_cannot_exempt_its_own_trail_with_a_tag(stack: Stack) -> None:
    # Given a member that tags its trail to opt out, then removes the key and stops logging
    org = stack.org
    arn = org.create_trail(MEMBER_A, "audit-trail", key=None, logging=False, tags={"trailguard:exempt": "true"})

    result = stack.send("trail/stop_logging.json")

    # TrailGuard repairs the trail all the same, and reports the request at LOW
    assert result["result"] == "open"
    assert org.trail(arn)["KmsKeyId"] == org.key_arn
    assert org.trail(arn)["IsLogging"] is True
    message = only(org.findings())["message"]
    assert finding(message, "trail.exemption-requested")["status"] == "OPEN"
    assert finding(message, "trail.exemption-requested")["severity"] == "LOW"
    assert finding(message, "trail.encryption")["status"] == "REMEDIATED"


def narrow_key_policy(stack: Stack) -> None:
    """A central key policy whose CloudTrail grant covers every account but 333333333333."""
    from harness.org import CENTRAL, central_key_policy

    org = stack.org
    policy = central_key_policy(CENTRAL, [MANAGEMENT, CENTRAL, MEMBER_B])
    org.client("kms", CENTRAL).put_key_policy(KeyId=org.key_id, PolicyName="default", Policy=json.dumps(policy))


def trail_container(stack: Stack) -> Warm:
    """What the trail function's warm container keeps."""
    container = load_module(stack.specs_by_id["TrailGuardFunction"]).CONTAINER
    assert isinstance(container, Warm)
    return container


def test_key_policy_without_the_account_is_refused_and_the_finding_names_the_grant(
    stack: Stack, api_calls: ApiCalls, faults: Faults
) -> None:
    # Given a central key policy that does not admit 333333333333, which real AWS refuses on UpdateTrail
    org = stack.org
    narrow_key_policy(stack)
    arn = org.create_trail(MEMBER_A, "audit-trail", key=None)
    faults.fail("UpdateTrail", "InsufficientEncryptionPolicyException", "Insufficient permissions to access the key")
    api_calls.reset()

    stack.send("trail/create_trail_no_key.json")

    # Then UpdateTrail was called and refused, the key was read only then, and the finding names the gap and fix
    assert api_calls.calls.count("UpdateTrail") == 1
    assert api_calls.calls.index("GetKeyPolicy") > api_calls.calls.index("UpdateTrail")
    assert "KmsKeyId" not in org.trail(arn)
    message = only(org.findings())["message"]
    encryption = finding(message, "trail.encryption")
    assert encryption["status"] == "REMEDIATION_FAILED"
    assert message["status"] == "REMEDIATION_FAILED"
    error = encryption["remediation"]["error"]
    assert error.startswith("cloudtrail:UpdateTrail failed with InsufficientEncryptionPolicyException")
    assert f"arn:aws:cloudtrail:*:{MEMBER_A}:trail/*" in error
    assert f"account {MEMBER_A}" in error


def test_disabled_central_key_is_refused_and_the_finding_says_to_enable_it(
    stack: Stack, api_calls: ApiCalls, faults: Faults
) -> None:
    from harness.org import CENTRAL

    org = stack.org
    org.client("kms", CENTRAL).disable_key(KeyId=org.key_id)
    org.create_trail(MEMBER_A, "audit-trail", key=None)
    faults.fail("UpdateTrail", "KmsKeyDisabledException", f"Key {org.key_arn} is disabled.")
    api_calls.reset()

    stack.send("trail/create_trail_no_key.json")

    assert "UpdateTrail" in api_calls.calls
    encryption = finding(only(org.findings())["message"], "trail.encryption")
    assert encryption["status"] == "REMEDIATION_FAILED"
    error = encryption["remediation"]["error"]
    assert "KmsKeyDisabledException" in error
    assert "the central key is Disabled" in error
    assert "enable it (key.state)" in error


def test_a_refusal_the_key_does_not_explain_quotes_aws(stack: Stack, faults: Faults) -> None:
    # Given a central key that admits the trail in every way TrailGuard can see, and AWS refusing all the same
    org = stack.org
    org.create_trail(MEMBER_A, "audit-trail", key=None)
    faults.fail("UpdateTrail", "InsufficientEncryptionPolicyException", "Insufficient permissions to access the key")

    stack.send("trail/create_trail_no_key.json")

    # Then the finding quotes AWS's code and message and says what to check
    error = finding(only(org.findings())["message"], "trail.encryption")["remediation"]["error"]
    assert "InsufficientEncryptionPolicyException (Insufficient permissions to access the key)" in error
    assert "explains nothing" in error
    assert f"--trail-account {MEMBER_A}" in error


def test_a_refusal_whose_facts_cannot_be_read_now_still_says_what_aws_answered(stack: Stack, faults: Faults) -> None:
    # Given AWS refuses the key, and KMS is throttling when TrailGuard reads the key to explain why
    org = stack.org
    org.create_trail(MEMBER_A, "audit-trail", key=None)
    faults.fail("UpdateTrail", "KmsKeyDisabledException", "Key is disabled.")
    faults.fail("DescribeKey", "ThrottlingException", "Rate exceeded")

    result = stack.send("trail/create_trail_no_key.json")

    # Then the refusal is reported all the same (not retried: UpdateTrail would be refused again)
    assert result["result"] == "remediation_failed"
    error = finding(only(org.findings())["message"], "trail.encryption")["remediation"]["error"]
    assert "KmsKeyDisabledException (Key is disabled.)" in error
    assert "could not read the central key to say more (ThrottlingException)" in error


def test_bucket_policy_without_the_account_is_refused_and_the_finding_names_the_statement(
    stack: Stack, api_calls: ApiCalls, faults: Faults
) -> None:
    from harness.org import CENTRAL, central_bucket_policy

    org = stack.org
    policy = central_bucket_policy([MANAGEMENT, CENTRAL, MEMBER_B])
    org.client("s3", CENTRAL).put_bucket_policy(Bucket=org.bucket, Policy=json.dumps(policy))
    org.create_trail(MEMBER_A, "audit-trail", key=None)
    faults.fail("UpdateTrail", "InsufficientS3BucketPolicyException", "Incorrect S3 bucket policy is detected")
    api_calls.reset()

    stack.send("trail/create_trail_no_key.json")

    assert "GetBucketPolicy" in api_calls.calls
    assert "GetKeyPolicy" not in api_calls.calls  # a bucket refusal reads the bucket, not the key
    error = finding(only(org.findings())["message"], "trail.encryption")["remediation"]["error"]
    assert "InsufficientS3BucketPolicyException" in error
    assert f"s3:PutObject on arn:aws:s3:::{org.bucket}/AWSLogs/{MEMBER_A}/*" in error


def test_a_key_refusal_does_not_block_log_file_validation(stack: Stack, faults: Faults) -> None:
    # Given a trail without the key and without log file validation, and AWS refusing the central key
    org = stack.org
    arn = org.create_trail(MEMBER_A, "audit-trail", key=None, validation=False)
    faults.fail("UpdateTrail", "KmsKeyDisabledException", "Key is disabled.", when="KmsKeyId")

    result = stack.send("trail/create_trail_no_key.json")

    # Then validation is turned on by an UpdateTrail without the key, and each finding says what happened
    assert org.trail(arn)["LogFileValidationEnabled"] is True
    assert "KmsKeyId" not in org.trail(arn)
    message = only(org.findings())["message"]
    assert finding(message, "trail.log-file-validation")["status"] == "REMEDIATED"
    assert finding(message, "trail.encryption")["status"] == "REMEDIATION_FAILED"
    assert result["result"] == "remediation_failed"


def test_organization_trail_is_repaired_through_the_management_account(stack: Stack) -> None:
    org = stack.org
    arn = org.create_trail(MANAGEMENT, "org-trail", organization=True)
    org.client("cloudtrail", MANAGEMENT).update_trail(Name=arn, KmsKeyId="")

    stack.send("trail/update_org_trail_remove_key.json")

    assert org.trail(arn)["KmsKeyId"] == org.key_arn
    message = only(org.findings())["message"]
    assert message["resource"]["account"] == MANAGEMENT
    assert finding(message, "trail.encryption")["status"] == "REMEDIATED"


def test_delete_trail_is_reported(stack: Stack) -> None:
    org = stack.org

    result = stack.send("trail/delete_trail.json")

    messages = {item["message"]["resource"]["type"]: item["message"] for item in org.findings()}
    message = messages["trail"]
    deleted = finding(message, "trail.deleted")
    assert deleted["status"] == "OPEN"
    assert message["severity"] == "HIGH"
    assert message["resource"]["arn"] == MEMBER_A_TRAIL
    # and the account the trail recorded is re-evaluated: nothing records it any more
    assert finding(messages["account"], "account.coverage")["status"] == "OPEN"
    assert messages["account"]["resource"]["account"] == MEMBER_A
    assert result["also"][0]["result"] == "open"


def test_repair_converges_without_a_second_write(stack: Stack, api_calls: ApiCalls) -> None:
    # Given a trail TrailGuard has just repaired
    org = stack.org
    org.create_trail(MEMBER_A, "audit-trail", key=None)
    stack.send("trail/create_trail_no_key.json")
    org.findings()
    api_calls.reset()

    # When the UpdateTrail that its own repair produced comes back
    stack.send("trail/update_trail_other_key.json")

    # Then nothing is written and nothing is said
    assert api_calls.writes() == []
    assert org.findings() == []


def test_unparseable_event_is_dropped_with_a_reason(stack: Stack) -> None:
    event = stack.org.event("trail/create_trail_no_key.json")
    event["detail"]["recipientAccountId"] = 12345678901  # an account id that lost its leading zero

    result = stack.invoke("TrailGuardFunction", event)

    assert result["result"] == "dropped"
    assert "recipientAccountId" in result["reason"]
    assert stack.org.findings() == []


def test_invalid_configuration_names_the_variable(stack: Stack) -> None:
    stack.configure(TRAILGUARD_CENTRAL_KEY_ARN="alias/trailguard-central")

    with pytest.raises(Exception, match="TRAILGUARD_CENTRAL_KEY_ARN"):
        stack.invoke("TrailGuardFunction", stack.org.event("trail/stop_logging.json"))


def test_same_event_twice_yields_one_message(stack: Stack) -> None:
    org = stack.org
    dynamodb = org.client("dynamodb", org.central)
    dynamodb.create_table(
        TableName="trailguard-idempotency",
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
    )
    stack.configure(TRAILGUARD_IDEMPOTENCY_TABLE="trailguard-idempotency")
    arn = org.create_trail(MEMBER_A, "audit-trail")
    org.client("cloudtrail", MEMBER_A).stop_logging(Name=arn)
    event = org.event("trail/stop_logging.json")

    first = stack.send(event)
    org.client("cloudtrail", MEMBER_A).stop_logging(Name=arn)  # drift again: a redelivery must still not act
    second = stack.send(event)

    assert first == second
    assert len(org.findings()) == 1


@pytest.mark.parametrize(
    ("code", "cause"),
    [
        ("InsufficientEncryptionPolicyException", "key policy"),
        ("KmsKeyDisabledException", "enable it"),
        ("KmsKeyNotFoundException", "region"),
        ("InvalidKmsKeyIdException", "TRAILGUARD_CENTRAL_KEY_ARN"),
        ("KmsException", "KMS"),
        ("InsufficientS3BucketPolicyException", "bucket policy"),
        ("S3BucketDoesNotExistException", "does not exist"),
        ("TrailNotFoundException", "no longer exists"),
        ("InvalidHomeRegionException", "home region"),
        ("NotOrganizationMasterAccountException", "management account"),
        ("OperationNotPermittedException", "exempt"),
        ("AccessDenied", "member.yaml"),
    ],
)
def test_update_trail_errors_become_findings_with_cause_and_next_step(
    stack: Stack, faults: Faults, code: str, cause: str
) -> None:
    org = stack.org
    org.create_trail(MEMBER_A, "audit-trail", key=None)
    faults.fail("UpdateTrail", code, "as real AWS says it")

    stack.send("trail/create_trail_no_key.json")

    encryption = finding(only(org.findings())["message"], "trail.encryption")
    assert encryption["status"] == "REMEDIATION_FAILED"
    assert code in encryption["remediation"]["error"]
    assert cause in encryption["remediation"]["error"]


@pytest.mark.parametrize("code", ["ThrottlingException", "ConflictException"])
def test_transient_update_error_raises_for_retry_and_the_retry_sends_the_one_message(
    stack: Stack, faults: Faults, code: str
) -> None:
    # Given UpdateTrail fails with a transient error (after botocore's own retries)
    org = stack.org
    arn = org.create_trail(MEMBER_A, "audit-trail", key=None)
    faults.fail("UpdateTrail", code)
    event = org.event("trail/create_trail_no_key.json")

    # Then the event is raised for Lambda to retry, and nothing is published yet
    with pytest.raises(ClientError, match=code):
        stack.send(event)
    assert org.findings() == []

    # When Lambda retries once the error has passed, the one message says what was done
    faults.clear()
    stack.send(event)
    assert org.trail(arn)["KmsKeyId"] == org.key_arn
    assert finding(only(org.findings())["message"], "trail.encryption")["status"] == "REMEDIATED"


def test_missing_remediation_role_is_reported_not_dropped(stack: Stack, faults: Faults) -> None:
    org = stack.org
    org.create_trail(MEMBER_A, "audit-trail", key=None)
    faults.fail("AssumeRole", "AccessDenied", "not authorized to perform sts:AssumeRole", 403)

    result = stack.send("trail/create_trail_no_key.json")

    assert result["result"] == "remediation_failed"
    message = only(org.findings())["message"]
    assert message["status"] == "REMEDIATION_FAILED"
    assert "TrailGuardRemediation" in message["findings"][0]["remediation"]["error"]
    assert MEMBER_A in message["findings"][0]["remediation"]["error"]


def test_throttled_read_raises_so_lambda_retries(stack: Stack, faults: Faults) -> None:
    stack.org.create_trail(MEMBER_A, "audit-trail", key=None)
    faults.fail("GetTrail", "ThrottlingException", "Rate exceeded")

    with pytest.raises(ClientError, match="ThrottlingException"):
        stack.send("trail/create_trail_no_key.json")
    assert stack.org.findings() == []


def test_api_calls_per_event(stack: Stack, api_calls: ApiCalls) -> None:
    """Drifted, even in a cold container: at most 6 calls; compliant: at most 3 (STS and TrailGuard's own
    tables not counted). The central key is not read: AWS itself refuses a key that does not admit the trail."""
    org = stack.org
    org.create_trail(MEMBER_B, "audit-trail", OTHER, key=None)

    api_calls.reset()
    stack.send("trail/create_trail_us_east_1.json")  # the first event of a cold container
    cold = api_calls.count(excluding=STS, own_state=False)
    cold_services = set(api_calls.services)

    arn = org.create_trail(MEMBER_A, "audit-trail")
    org.findings()
    api_calls.reset()
    stack.send("trail/create_trail_central_key.json")
    compliant = api_calls.count(excluding=STS, own_state=False)

    org.client("cloudtrail", MEMBER_A).update_trail(Name=arn, KmsKeyId="")
    api_calls.reset()
    stack.send("trail/update_trail_remove_key_console.json")
    drifted = api_calls.count(excluding=STS, own_state=False)

    assert cold <= 6, api_calls.counter()
    assert {"kms", "s3"}.isdisjoint(cold_services), cold_services
    assert compliant <= 3, api_calls.counter()
    assert drifted <= 6, api_calls.counter()
    assert org.trail(arn)["KmsKeyId"] == org.key_arn


def test_a_refused_drifted_trail_reads_the_key_once_after_the_refusal(
    stack: Stack, api_calls: ApiCalls, faults: Faults
) -> None:
    org = stack.org
    org.create_trail(MEMBER_B, "audit-trail", OTHER, key=None)
    faults.fail("UpdateTrail", "InsufficientEncryptionPolicyException", "Insufficient permissions to access the key")
    api_calls.reset()

    stack.send("trail/create_trail_us_east_1.json")

    calls = [call for call, service in zip(api_calls.calls, api_calls.services, strict=True) if service != "sts"]
    after = calls[calls.index("UpdateTrail") + 1 :]
    assert [call for call in after if call in KEY_READS] == list(KEY_READS)
    assert not set(KEY_READS) & set(calls[: calls.index("UpdateTrail")])
    assert api_calls.count(excluding=STS, own_state=False) <= 6 + len(KEY_READS), api_calls.counter()


def test_a_refusal_is_explained_from_fresh_facts_and_a_key_fixed_since_does_not_block(
    stack: Stack, faults: Faults
) -> None:
    # Given a key policy that stopped admitting 333333333333, which AWS enforces on UpdateTrail
    from harness.org import CENTRAL, central_key_policy

    org = stack.org
    narrow_key_policy(stack)
    arn = org.create_trail(MEMBER_A, "audit-trail", key=None)
    faults.fail("UpdateTrail", "InsufficientEncryptionPolicyException", "Insufficient permissions to access the key")

    stack.send("trail/create_trail_no_key.json")

    # Then the refusal is explained from the policy as it is now (read after the refusal, never kept)
    error = finding(only(org.findings())["message"], "trail.encryption")["remediation"]["error"]
    assert f"arn:aws:cloudtrail:*:{MEMBER_A}:trail/*" in error

    # When the key policy is fixed (in the key account: this container is not told) and the trail changes again
    org.client("kms", CENTRAL).put_key_policy(
        KeyId=org.key_id, PolicyName="default", Policy=json.dumps(central_key_policy(CENTRAL, org.accounts))
    )
    faults.clear()  # AWS admits the trail now
    stack.send("trail/create_trail_no_key.json")

    # Then nothing kept blocks the repair
    assert org.trail(arn)["KmsKeyId"] == org.key_arn
    assert finding(only(org.findings())["message"], "trail.encryption")["status"] == "REMEDIATED"


def test_trailguard_s_own_change_causes_no_write_and_no_second_message(stack: Stack, api_calls: ApiCalls) -> None:
    # Given a trail with a report-only finding (it delivers to another bucket) that TrailGuard just repaired
    org = stack.org
    org.create_trail(MEMBER_A, "audit-trail", key=None, bucket=org.bucket)
    stack.send("trail/create_trail_no_key.json")
    org.findings()
    api_calls.reset()

    # When the UpdateTrail event of TrailGuard's own repair comes back, several times
    results = [stack.send("trail/update_trail_by_trailguard.json") for _ in range(3)]

    assert {result["result"] for result in results} == {"ignored"}
    assert "TrailGuard's own" in results[0]["reason"]
    assert api_calls.writes() == []
    assert org.findings() == []


def test_an_event_naming_a_trail_outside_the_organization_is_not_followed(stack: Stack, api_calls: ApiCalls) -> None:
    # Given an event from a member whose trail ARN names an account that is not in the organization
    event = stack.org.event("trail/stop_logging_by_arn.json")
    text = json.dumps(event).replace(f"{MEMBER_A}:trail/", "999999999999:trail/")
    api_calls.reset()

    result = stack.send(json.loads(text))

    assert result["result"] == "ignored"
    assert "999999999999" in result["reason"]
    assert api_calls.writes() == []
    assert "AssumeRole" not in api_calls.calls
    assert stack.org.findings() == []
