from __future__ import annotations

import pytest

from trailguard.errors import ConfigurationError
from trailguard.settings import Mode, Settings

KEY = "arn:aws:kms:eu-west-1:222222222222:key/1234abcd-12ab-34cd-56ef-1234567890ab"
BASE = {
    "TRAILGUARD_CENTRAL_KEY_ARN": KEY,
    "TRAILGUARD_LOG_BUCKET": "trailguard-central-logs-222222222222",
    "TRAILGUARD_TOPIC_ARN": "arn:aws:sns:eu-west-1:222222222222:trailguard-findings",
}


def test_defaults_follow_the_contract() -> None:
    settings = Settings.from_env(BASE)

    assert settings.mode is Mode.REMEDIATE
    assert settings.remediation_role_name == "TrailGuardRemediation"
    assert settings.exempt_tag == "trailguard:exempt"
    assert settings.repair_policies is False
    assert settings.management_account_id is None
    assert settings.idempotency_table is None
    assert settings.accounts is None
    assert settings.regions is None
    assert settings.central_key.account == "222222222222"
    assert settings.central_key.region == "eu-west-1"


def test_empty_strings_mean_unset_and_lists_keep_leading_zeros() -> None:
    settings = Settings.from_env(
        {
            **BASE,
            "TRAILGUARD_MANAGEMENT_ACCOUNT_ID": "",
            "TRAILGUARD_ORG_ID": "",
            "TRAILGUARD_ACCOUNTS": "012345678901, 333333333333,012345678901",
            "TRAILGUARD_REGIONS": "eu-west-1,us-east-1",
            "TRAILGUARD_MODE": "REPORT",
        }
    )

    assert settings.management_account_id is None
    assert settings.accounts == ("012345678901", "333333333333")
    assert settings.regions == ("eu-west-1", "us-east-1")
    assert settings.mode is Mode.REPORT


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("TRAILGUARD_CENTRAL_KEY_ARN", None),
        ("TRAILGUARD_CENTRAL_KEY_ARN", "alias/trailguard"),
        ("TRAILGUARD_CENTRAL_KEY_ARN", "1234abcd-12ab-34cd-56ef-1234567890ab"),
        ("TRAILGUARD_LOG_BUCKET", None),
        ("TRAILGUARD_LOG_BUCKET", "Not_A_Bucket"),
        ("TRAILGUARD_TOPIC_ARN", "trailguard-findings"),
        ("TRAILGUARD_MODE", "fix"),
        ("TRAILGUARD_MANAGEMENT_ACCOUNT_ID", "12345678901"),
        ("TRAILGUARD_ORG_ID", "org-1"),
        ("TRAILGUARD_REPAIR_POLICIES", "yes"),
        ("TRAILGUARD_ACCOUNTS", "333333333333,12345"),
        ("TRAILGUARD_REGIONS", "europe"),
        ("TRAILGUARD_REMEDIATION_ROLE_NAME", "bad role/name"),
    ],
)
def test_invalid_configuration_fails_fast_naming_the_variable(variable: str, value: str | None) -> None:
    environ = dict(BASE)
    if value is None:
        environ.pop(variable, None)
    else:
        environ[variable] = value

    with pytest.raises(ConfigurationError) as raised:
        Settings.from_env(environ)

    assert raised.value.variable == variable
    assert variable in str(raised.value)


FUNCTION_ROLE = "arn:aws:iam::222222222222:role/trailguard/trailguard-TrailGuardFunctionRole-1A"


def test_trailguard_s_own_roles_are_recognised_by_arn_or_name() -> None:
    settings = Settings.from_env(
        {
            **BASE,
            "TRAILGUARD_FUNCTION_ROLES": FUNCTION_ROLE,
        }
    )

    assert settings.is_own_role("arn:aws:iam::333333333333:role/TrailGuardRemediation")
    assert settings.is_own_role(None, "TrailGuardRemediation")
    assert settings.is_own_role(FUNCTION_ROLE)
    assert settings.is_own_role(None, "trailguard-TrailGuardFunctionRole-1A", "222222222222")
    assert not settings.is_own_role(None, "trailguard-TrailGuardFunctionRole-1A", "333333333333")
    assert not settings.is_own_role("arn:aws:iam::333333333333:role/Admin")
    assert not settings.is_own_role(None)


def test_exemptions_are_patterns_with_a_reason_and_an_expiry() -> None:
    from datetime import date

    settings = Settings.from_env(
        {
            **BASE,
            "TRAILGUARD_EXEMPT_TRAILS": "arn:aws:cloudtrail:*:333333333333:trail/lab-*;reason=a lab;expires=2027-01-31,"
            "arn:aws:cloudtrail:eu-west-1:444444444444:trail/vendor",
        }
    )

    lab = settings.exemption("arn:aws:cloudtrail:us-east-1:333333333333:trail/lab-1", date(2027, 1, 31))
    assert lab is not None
    assert lab.reason == "a lab"
    assert settings.exemption("arn:aws:cloudtrail:us-east-1:333333333333:trail/lab-1", date(2027, 2, 1)) is None
    assert settings.exemption("arn:aws:cloudtrail:eu-west-1:444444444444:trail/vendor", date(2030, 1, 1)) is not None
    assert settings.exemption("arn:aws:cloudtrail:eu-west-1:444444444444:trail/vendor-2", date(2030, 1, 1)) is None


@pytest.mark.parametrize("value", ["audit-trail", "arn:aws:cloudtrail:*:1:trail/x;color=red", "arn:aws:x;expires=soon"])
def test_an_exemption_that_cannot_be_read_names_the_variable(value: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        Settings.from_env({**BASE, "TRAILGUARD_EXEMPT_TRAILS": value})

    assert raised.value.variable == "TRAILGUARD_EXEMPT_TRAILS"
