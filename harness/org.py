"""A simulated organization on moto: the accounts, the central key, bucket and topic, and the trails.

Used by the integration tests and by `make demo` alike, so that the demo takes the production path:
events from events/ are routed through template.yaml to the real handlers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "events"
STATE_TABLE = "trailguard-state"
STACK_NAME = "trailguard"
FORWARDER = "TrailGuardEventForwarder"  # the member stack's forwarding rule (ForwarderRoleName)
FUNCTIONS = ("TrailGuardFunction", "KeyGuardFunction", "BucketGuardFunction", "SweepFunction", "SweepWorkerFunction")
SWEEP_QUEUE = "trailguard-sweep"
SWEEP_ATTEMPTS = 3  # the sweep queue's maxReceiveCount in template.yaml
PLACEHOLDER_KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"

MANAGEMENT = "111111111111"
CENTRAL = "222222222222"
MEMBER_A = "333333333333"
MEMBER_B = "012345678901"
OUTSIDER = "999999999999"
ORG_ID = "o-a1b2c3d4e5"
HOME = "eu-west-1"
OTHER = "us-east-1"
BUCKET = f"trailguard-central-logs-{CENTRAL}"
FUNCTION_ROLE = "TrailGuardFunctionRole"


def central_key_policy(key_account: str, trail_accounts: list[str]) -> dict[str, Any]:
    """The key policy the simulated organization starts with (what `trailguard policy key` prints)."""
    from trailguard.policy import key_policy

    return key_policy(
        key_account=key_account,
        management_account=MANAGEMENT,
        org_id=ORG_ID,
        trail_accounts=[account for account in trail_accounts if account != MANAGEMENT],
    )


def central_bucket_policy(trail_accounts: list[str]) -> dict[str, Any]:
    from trailguard.policy import bucket_policy

    return bucket_policy(
        bucket=BUCKET,
        trail_accounts=[a for a in trail_accounts if a != MANAGEMENT],
        management_account=MANAGEMENT,
        org_id=ORG_ID,
    )


def assumed_session(account: str, role: str = "OrganizationAccountAccessRole", region: str = HOME) -> boto3.Session:
    """Credentials of `account` (moto lets any role be assumed; its state is per account)."""
    credentials = boto3.client("sts", region_name=region).assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/{role}", RoleSessionName="simulation"
    )["Credentials"]
    return boto3.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=region,
    )


@dataclass
class SimulatedOrg:
    key_arn: str
    topic_arn: str
    queue_url: str
    sessions: dict[str, boto3.Session] = field(default_factory=dict)
    summaries: list[dict[str, Any]] = field(default_factory=list)  # sweep summaries drained by findings()
    state_table: str = STATE_TABLE
    sweep_queue_url: str = ""
    held: list[dict[str, Any]] = field(default_factory=list)  # read from the queue, not yet handed out
    sweep_dead_letter_url: str = ""

    @property
    def bus_arn(self) -> str:
        return f"arn:aws:events:{HOME}:{self.central}:event-bus/trailguard-central"

    def forward(self, account: str, region: str) -> None:
        """The forwarding rule the member stack (or, in the central account's region, the central stack) puts
        on the default bus of an account and region."""
        central = account == self.central and region == HOME
        rule = f"{STACK_NAME}-forward" if central else FORWARDER
        events = self.client("events", account, region)
        events.put_rule(Name=rule, EventPattern=json.dumps({"source": ["aws.cloudtrail"]}), State="ENABLED")
        events.put_targets(Rule=rule, Targets=[{"Id": "central-bus", "Arn": self.bus_arn}])

    management: str = MANAGEMENT
    central: str = CENTRAL
    members: tuple[str, ...] = (MEMBER_A, MEMBER_B)
    org_id: str = ORG_ID
    bucket: str = BUCKET

    @property
    def key_id(self) -> str:
        return self.key_arn.rsplit("/", 1)[1]

    @property
    def accounts(self) -> list[str]:
        return [self.management, self.central, *self.members]

    def session(self, account: str) -> boto3.Session:
        if account not in self.sessions:
            self.sessions[account] = assumed_session(account)
        return self.sessions[account]

    def client(self, service: str, account: str, region: str = HOME) -> Any:
        return self.session(account).client(service, region_name=region)

    def parameters(self) -> dict[str, str]:
        """The stack's parameters and resources, as `sam deploy` would give them for this organization."""
        return {
            "CentralKeyArn": self.key_arn,
            "LogBucketName": self.bucket,
            "Mode": "remediate",
            "RemediationRoleName": "TrailGuardRemediation",
            "ManagementAccountId": self.management,
            "OrgId": self.org_id,
            "ExemptTag": "trailguard:exempt",
            "RepairPolicies": "false",
            "Accounts": ",".join(self.accounts),
            "Regions": f"{HOME},{OTHER}",
            "FindingsTopic": self.topic_arn,
            "IdempotencyTable": "",
            "StateTable": self.state_table,
            "SweepQueue": self.sweep_queue_url,  # Ref of a queue is its URL
            "SweepQueue.Arn": self.queue_arn(self.sweep_queue_url),
            "CentralEventBus.Arn": self.bus_arn,
            "AWS::StackName": STACK_NAME,
            **{f"{name}Role.Arn": f"arn:aws:iam::{self.central}:role/{FUNCTION_ROLE}" for name in FUNCTIONS},
            "AWS::AccountId": self.central,
            "AWS::Region": HOME,
        }

    def queue_arn(self, url: str) -> str:
        return f"arn:aws:sqs:{HOME}:{self.central}:{url.rsplit('/', 1)[-1]}"

    def function_credentials(self) -> dict[str, str]:
        """Environment credentials of the functions' own role in the central account."""
        credentials = boto3.client("sts", region_name=HOME).assume_role(
            RoleArn=f"arn:aws:iam::{self.central}:role/{FUNCTION_ROLE}", RoleSessionName="trailguard-function"
        )["Credentials"]
        return {
            "AWS_ACCESS_KEY_ID": credentials["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": credentials["SecretAccessKey"],
            "AWS_SESSION_TOKEN": credentials["SessionToken"],
        }

    def create_trail(
        self,
        account: str,
        name: str,
        region: str = HOME,
        *,
        key: str | None = "central",
        logging: bool = True,
        validation: bool = True,
        multi_region: bool = True,
        organization: bool = False,
        bucket: str | None = None,
        tags: dict[str, str] | None = None,
    ) -> str:
        """A trail as a member (or the management account) would create it; `key="central"` is compliant."""
        cloudtrail = self.client("cloudtrail", account, region)
        arguments: dict[str, Any] = {
            "Name": name,
            "S3BucketName": bucket or self.bucket,
            "IsMultiRegionTrail": multi_region,
            "EnableLogFileValidation": validation,
            "IsOrganizationTrail": organization,
        }
        if key is not None:
            arguments["KmsKeyId"] = self.key_arn if key == "central" else key
        if tags:
            arguments["TagsList"] = [{"Key": k, "Value": v} for k, v in tags.items()]
        arn = str(cloudtrail.create_trail(**arguments)["TrailARN"])
        if logging:
            cloudtrail.start_logging(Name=arn)
        return arn

    def trail(self, arn: str) -> dict[str, Any]:
        """GetTrail and GetTrailStatus merged, read with the owner's credentials in the home region."""
        parts = arn.split(":")
        cloudtrail = self.client("cloudtrail", parts[4], parts[3])
        trail = dict(cloudtrail.get_trail(Name=arn)["Trail"])
        trail["IsLogging"] = cloudtrail.get_trail_status(Name=arn)["IsLogging"]
        return trail

    def findings(self) -> list[dict[str, Any]]:
        """Drain the SQS queue subscribed to the findings topic: subject, message and attributes of each finding
        message (a sweep's summary is kept apart, in `summaries`)."""
        messages = self.messages()
        self.summaries += [item for item in messages if item["message"].get("schema") == "trailguard.sweep/1"]
        return [item for item in messages if item["message"].get("schema") != "trailguard.sweep/1"]

    def latest_summary(self) -> dict[str, Any] | None:
        """The last sweep summary published so far (the other messages stay for `findings()`)."""
        messages = self.messages()
        summaries = [item["message"] for item in messages if item["message"].get("schema") == "trailguard.sweep/1"]
        self.summaries += [item for item in messages if item["message"].get("schema") == "trailguard.sweep/1"]
        self.held = [item for item in messages if item["message"].get("schema") != "trailguard.sweep/1"]
        return summaries[-1] if summaries else None

    def messages(self) -> list[dict[str, Any]]:
        """Drain the SQS queue subscribed to the findings topic: every message, as SQS subscribers get it."""
        sqs = self.client("sqs", self.central)
        received: list[dict[str, Any]] = self.held
        self.held = []
        while True:
            batch = sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not batch:
                return received
            for message in batch:
                envelope = json.loads(message["Body"])
                received.append(
                    {
                        "subject": envelope.get("Subject"),
                        "message": json.loads(envelope["Message"]),
                        "attributes": {k: v["Value"] for k, v in envelope.get("MessageAttributes", {}).items()},
                    }
                )
                sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])

    def event(self, name: str) -> dict[str, Any]:
        """A sample from events/, with the placeholder central key id replaced by the simulated key's id."""
        text = (EVENTS / name).read_text()
        return dict(json.loads(text.replace(PLACEHOLDER_KEY_ID, self.key_id)))


def build_org() -> SimulatedOrg:
    """Create the central key, bucket and findings topic (with a queue to read it) in the central account.

    Call inside an active moto mock. The key and bucket policies are the ones the policy tool prints.
    """
    central = assumed_session(CENTRAL)
    trail_accounts = [MANAGEMENT, CENTRAL, MEMBER_A, MEMBER_B]
    kms = central.client("kms", region_name=HOME)
    key = kms.create_key(
        Description="TrailGuard central CloudTrail key", KeyUsage="ENCRYPT_DECRYPT", KeySpec="SYMMETRIC_DEFAULT"
    )["KeyMetadata"]
    kms.put_key_policy(
        KeyId=key["KeyId"], PolicyName="default", Policy=json.dumps(central_key_policy(CENTRAL, trail_accounts))
    )
    kms.enable_key_rotation(KeyId=key["KeyId"])
    kms.create_alias(AliasName="alias/trailguard-central", TargetKeyId=key["KeyId"])

    s3 = central.client("s3", region_name=HOME)
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": HOME})
    s3.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps(central_bucket_policy(trail_accounts)))
    s3.put_bucket_encryption(
        Bucket=BUCKET,
        ServerSideEncryptionConfiguration={
            "Rules": [
                {
                    "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key["Arn"]},
                    "BucketKeyEnabled": False,
                }
            ]
        },
    )
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    s3.put_public_access_block(
        Bucket=BUCKET,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )

    sns = central.client("sns", region_name=HOME)
    topic_arn = sns.create_topic(Name="trailguard-findings")["TopicArn"]
    sqs = central.client("sqs", region_name=HOME)
    queue_url = sqs.create_queue(QueueName="security-team")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    central.client("dynamodb", region_name=HOME).create_table(
        TableName=STATE_TABLE,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
    )
    dead_letter_url = sqs.create_queue(QueueName=SWEEP_QUEUE + "-dlq")["QueueUrl"]
    dead_letter_arn = f"arn:aws:sqs:{HOME}:{CENTRAL}:{SWEEP_QUEUE}-dlq"
    sweep_queue_url = sqs.create_queue(
        QueueName=SWEEP_QUEUE,
        Attributes={
            "VisibilityTimeout": "1800",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dead_letter_arn, "maxReceiveCount": SWEEP_ATTEMPTS}),
        },
    )["QueueUrl"]
    org = SimulatedOrg(
        key_arn=key["Arn"],
        topic_arn=topic_arn,
        queue_url=queue_url,
        sessions={CENTRAL: central},
        sweep_queue_url=sweep_queue_url,
        sweep_dead_letter_url=dead_letter_url,
    )
    central.client("events", region_name=HOME).create_event_bus(Name="trailguard-central")
    for account in org.accounts:
        for region in (HOME, OTHER):
            org.forward(account, region)
    return org
