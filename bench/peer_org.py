"""The simulated organization every tool is run against, served by a moto server on the loopback.

Four accounts (management, central, two members), three regions, and the trails of `TRAILS`: every state
a trail can be in, one organization trail, multi-region trails (whose shadow copies appear in the other
regions of their account). The central key and log bucket are the ones `trailguard policy` prints.

Each tool reaches it as it would reach AWS: through `AWS_ENDPOINT_URL`. moto picks the account of a
request from the access key id, so each account gets an IAM user with an access key (the plain
credentials Custodian and Prowler are given), and the central account gets the credentials of
TrailGuard's function role, which assumes `TrailGuardRemediation` into the other accounts.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3

from bench.truth import Key, TrailSpec
from harness.org import BUCKET, CENTRAL, MANAGEMENT, MEMBER_A, MEMBER_B, ORG_ID

HOME = "eu-west-1"  # the central key and bucket live here
US = "us-east-1"
AP = "ap-southeast-2"
REGIONS = (HOME, US, AP)
ACCOUNTS = (MANAGEMENT, CENTRAL, MEMBER_A, MEMBER_B)
REMEDIATION_ROLE = "TrailGuardRemediation"
FUNCTION_ROLE = "TrailGuardFunctionRole"
AUDITOR = "peer-auditor"
# What the peers read (moto does not enforce IAM; the policy says what a real auditor user would need).
AUDIT_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": [
                "cloudtrail:Describe*",
                "cloudtrail:Get*",
                "cloudtrail:List*",
                "kms:Describe*",
                "kms:Get*",
                "kms:List*",
                "s3:GetBucket*",
                "s3:ListAllMyBuckets",
                "iam:List*",
                "iam:Get*",
                "organizations:Describe*",
                "organizations:List*",
                "sts:GetCallerIdentity",
                "ec2:DescribeRegions",
            ],
            "Resource": "*",
        }
    ],
}
BASE_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}

TRAILS: tuple[TrailSpec, ...] = (
    TrailSpec(MANAGEMENT, HOME, "organization-trail", organization=True, logging=False),
    TrailSpec(CENTRAL, HOME, "security-trail"),
    TrailSpec(MEMBER_A, HOME, "unencrypted", key=Key.NONE),
    TrailSpec(MEMBER_A, US, "team-key", key=Key.OTHER),
    TrailSpec(MEMBER_A, AP, "stopped", logging=False, multi_region=False),
    TrailSpec(MEMBER_B, US, "stopped-global", logging=False),
    TrailSpec(MEMBER_B, HOME, "no-validation", validation=False, multi_region=False),
    TrailSpec(MEMBER_B, AP, "regional", multi_region=False),
    TrailSpec(MEMBER_B, HOME, "neglected", key=Key.NONE, logging=False, validation=False, multi_region=False),
)


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    secret_access_key: str
    session_token: str | None = None

    def environment(self) -> dict[str, str]:
        env = {"AWS_ACCESS_KEY_ID": self.access_key_id, "AWS_SECRET_ACCESS_KEY": self.secret_access_key}
        if self.session_token:
            env["AWS_SESSION_TOKEN"] = self.session_token
        return env


@dataclass
class PeerOrg:
    """What the runners need: the endpoint, each account's plain credentials, TrailGuard's, the central key."""

    endpoint: str
    key_arn: str
    topic_arn: str
    auditors: dict[str, Credentials] = field(default_factory=dict)
    trailguard: Credentials | None = None
    accounts: tuple[str, ...] = ACCOUNTS
    regions: tuple[str, ...] = REGIONS
    trails: tuple[TrailSpec, ...] = TRAILS
    management: str = MANAGEMENT
    central: str = CENTRAL
    bucket: str = BUCKET
    org_id: str = ORG_ID

    def base_environment(self) -> dict[str, str]:
        """What every tool's process gets besides its credentials: the endpoint and a default region."""
        return {"AWS_ENDPOINT_URL": self.endpoint, "AWS_DEFAULT_REGION": HOME, "AWS_REGION": HOME}


@contextmanager
def moto_server() -> Iterator[str]:
    """A moto server on 127.0.0.1 and a free port for the duration of the block; stopped whatever happens.

    The server runs in this process, so moto's answers are those harness.moto_fixes brings in line with AWS
    (ListTrails lists every trail of the account, as TrailGuard's sweep and audit rely on): applied here, before
    the server starts, whatever was imported first.
    """
    from moto.server import ThreadedMotoServer

    from harness import moto_fixes

    moto_fixes.apply()

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()


class _Accounts:
    """boto3 clients for each simulated account, through the server (moto: any role can be assumed)."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self._credentials: dict[tuple[str, str], Credentials] = {}

    def assume(self, account: str, role: str = "OrganizationAccountAccessRole") -> Credentials:
        if (account, role) not in self._credentials:
            sts = boto3.client("sts", region_name=HOME, endpoint_url=self.endpoint, **BASE_CREDENTIALS)
            issued = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/{role}", RoleSessionName="bench")
            c = issued["Credentials"]
            self._credentials[account, role] = Credentials(c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])
        return self._credentials[account, role]

    def client(self, service: str, account: str, region: str = HOME) -> Any:
        c = self.assume(account)
        return boto3.client(
            service,
            region_name=region,
            endpoint_url=self.endpoint,
            aws_access_key_id=c.access_key_id,
            aws_secret_access_key=c.secret_access_key,
            aws_session_token=c.session_token,
        )


def _central_key(accounts: _Accounts) -> str:
    from harness.org import central_key_policy

    kms = accounts.client("kms", CENTRAL)
    key = kms.create_key(Description="TrailGuard central CloudTrail key", KeySpec="SYMMETRIC_DEFAULT")["KeyMetadata"]
    policy = central_key_policy(CENTRAL, list(ACCOUNTS))
    kms.put_key_policy(KeyId=key["KeyId"], PolicyName="default", Policy=json.dumps(policy))
    kms.enable_key_rotation(KeyId=key["KeyId"])
    kms.create_alias(AliasName="alias/trailguard-central", TargetKeyId=key["KeyId"])
    return str(key["Arn"])


def _central_bucket(accounts: _Accounts, key_arn: str) -> None:
    from harness.org import central_bucket_policy

    s3 = accounts.client("s3", CENTRAL)
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": HOME})
    s3.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps(central_bucket_policy(list(ACCOUNTS))))
    rule = {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_arn}}
    s3.put_bucket_encryption(Bucket=BUCKET, ServerSideEncryptionConfiguration={"Rules": [rule]})
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    block = dict.fromkeys(("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"), True)
    s3.put_public_access_block(Bucket=BUCKET, PublicAccessBlockConfiguration=block)


def _auditor(accounts: _Accounts, account: str) -> Credentials:
    """An IAM user with an access key in `account`: moto maps its key id to that account."""
    iam = accounts.client("iam", account)
    iam.create_user(UserName=AUDITOR)
    iam.put_user_policy(UserName=AUDITOR, PolicyName="read-only-audit", PolicyDocument=json.dumps(AUDIT_POLICY))
    key = iam.create_access_key(UserName=AUDITOR)["AccessKey"]
    return Credentials(key["AccessKeyId"], key["SecretAccessKey"])


def _create_trail(accounts: _Accounts, spec: TrailSpec, key_arn: str) -> None:
    cloudtrail = accounts.client("cloudtrail", spec.account, spec.region)
    arguments: dict[str, Any] = {
        "Name": spec.name,
        "S3BucketName": BUCKET,
        "IsMultiRegionTrail": spec.multi_region,
        "EnableLogFileValidation": spec.validation,
        "IsOrganizationTrail": spec.organization,
    }
    if spec.key is Key.CENTRAL:
        arguments["KmsKeyId"] = key_arn
    elif spec.key is Key.OTHER:
        kms = accounts.client("kms", spec.account, spec.region)
        arguments["KmsKeyId"] = kms.create_key(Description=f"{spec.name} team key")["KeyMetadata"]["Arn"]
    arn = cloudtrail.create_trail(**arguments)["TrailARN"]
    if arn != spec.arn:
        raise RuntimeError(f"moto named the trail {arn}, expected {spec.arn}")
    if spec.logging:
        cloudtrail.start_logging(Name=spec.name)


def build(endpoint: str) -> PeerOrg:
    """Create the central key, bucket and topic, one auditor per account, and every trail of `TRAILS`."""
    accounts = _Accounts(endpoint)
    key_arn = _central_key(accounts)
    _central_bucket(accounts, key_arn)
    topic_arn = accounts.client("sns", CENTRAL).create_topic(Name="trailguard-findings")["TopicArn"]
    for spec in TRAILS:
        _create_trail(accounts, spec, key_arn)
    return PeerOrg(
        endpoint=endpoint,
        key_arn=key_arn,
        topic_arn=str(topic_arn),
        auditors={account: _auditor(accounts, account) for account in ACCOUNTS},
        trailguard=accounts.assume(CENTRAL, FUNCTION_ROLE),
    )
