"""The central log bucket as TrailGuard sees it, and how it is read and changed: with its owner's credentials
(the central key's account, where the bucket lives beside the key), every call naming the expected owner so
that a bucket of the same name in another account is never read or changed."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from trailguard.advice import explain
from trailguard.arns import bucket_arn, bucket_region
from trailguard.sessions import SessionFactory, error_code, is_transient
from trailguard.settings import Settings

if TYPE_CHECKING:
    from trailguard.key.facts import Recorder

PUBLIC_GROUPS = (
    "http://acs.amazonaws.com/groups/global/AllUsers",
    "http://acs.amazonaws.com/groups/global/AuthenticatedUsers",
)
BLOCK_ALL = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}


@dataclass(frozen=True, slots=True)
class BucketState:
    name: str
    account: str
    region: str
    policy: str | None  # None: no bucket policy
    encryption: dict[str, Any] | None  # the default-encryption rule, None when there is none
    versioning: str | None  # Enabled | Suspended | None (never enabled)
    public_access_block: dict[str, bool]  # in force where the bucket or the whole account sets it
    public_acl_grants: tuple[str, ...]
    partition: str = "aws"

    @property
    def arn(self) -> str:
        return bucket_arn(self.partition, self.name)


class BucketUnreadable(Exception):
    """The central bucket could not be read for a lasting reason (AccessDenied, NoSuchBucket...)."""


def read_bucket_region(sessions: SessionFactory, settings: Settings, recorder: Recorder) -> str | None:
    """GetBucketLocation of the central bucket (None when unreadable, named in the recorder's problems)."""
    key, bucket = settings.central_key, settings.log_bucket
    s3 = sessions.client("s3", key.account, key.region)
    location = recorder.read(
        f"GetBucketLocation on {bucket}",
        lambda: s3.get_bucket_location(Bucket=bucket, ExpectedBucketOwner=key.account),
    )
    return None if location is None else bucket_region(location.get("LocationConstraint"))


# What a bucket without a policy grants: nothing (GetBucketPolicy answers NoSuchBucketPolicy).
NO_POLICY = '{"Version": "2012-10-17", "Statement": []}'


def read_bucket_policy(sessions: SessionFactory, settings: Settings, recorder: Recorder) -> str | None:
    """GetBucketPolicy of the central bucket: its JSON (NO_POLICY when it has none); None when unreadable
    (NoSuchBucket, AccessDenied...: named in the recorder's problems)."""
    key, bucket = settings.central_key, settings.log_bucket
    s3 = sessions.client("s3", key.account, key.region)

    def read() -> str:
        try:
            return str(s3.get_bucket_policy(Bucket=bucket, ExpectedBucketOwner=key.account)["Policy"])
        except ClientError as error:
            if error_code(error) == "NoSuchBucketPolicy":
                return NO_POLICY
            raise

    text: str | None = recorder.read(f"GetBucketPolicy on {bucket}", read)
    return text


class BucketAdapter:
    def __init__(self, sessions: SessionFactory, settings: Settings) -> None:
        key = settings.central_key
        self.name = settings.log_bucket
        self.account = key.account
        self.partition = key.partition
        self._s3 = sessions.client("s3", key.account, key.region)
        self._s3control = sessions.client("s3control", key.account, key.region)

    @property
    def arn(self) -> str:
        return bucket_arn(self.partition, self.name)

    def read(self) -> BucketState:
        try:
            return self._read()
        except ClientError as error:
            if is_transient(error):
                raise
            raise BucketUnreadable(explain("Reading the central bucket", error)) from error

    def _read(self) -> BucketState:
        s3, bucket = self._s3, {"Bucket": self.name, "ExpectedBucketOwner": self.account}
        region = bucket_region(s3.get_bucket_location(**bucket).get("LocationConstraint"))
        policy_text = self._optional(lambda: s3.get_bucket_policy(**bucket)["Policy"], "NoSuchBucketPolicy")
        encryption = self._optional(
            lambda: s3.get_bucket_encryption(**bucket)["ServerSideEncryptionConfiguration"]["Rules"][0],
            "ServerSideEncryptionConfigurationNotFoundError",
        )
        versioning = s3.get_bucket_versioning(**bucket).get("Status")
        missing = "NoSuchPublicAccessBlockConfiguration"
        block = self._optional(lambda: s3.get_public_access_block(**bucket)["PublicAccessBlockConfiguration"], missing)
        account_block = self._optional(
            lambda: self._s3control.get_public_access_block(AccountId=self.account)["PublicAccessBlockConfiguration"],
            missing,
        )
        acl = s3.get_bucket_acl(**bucket)
        public_acl = tuple(
            sorted(
                {
                    f"{grant['Permission']} to {grant['Grantee'].get('URI')}"
                    for grant in acl.get("Grants", [])
                    if grant.get("Grantee", {}).get("URI") in PUBLIC_GROUPS
                }
            )
        )
        effective = {flag: bool((block or {}).get(flag) or (account_block or {}).get(flag)) for flag in BLOCK_ALL}
        return BucketState(
            self.name, self.account, region, policy_text, encryption, versioning, effective, public_acl, self.partition
        )

    @staticmethod
    def _optional(read: Any, missing: str) -> Any:
        try:
            return read()
        except ClientError as error:
            if error_code(error) == missing:
                return None
            raise

    def put_encryption(self, key_arn: str, bucket_key: bool) -> None:
        self._s3.put_bucket_encryption(
            Bucket=self.name,
            ExpectedBucketOwner=self.account,
            ServerSideEncryptionConfiguration={
                "Rules": [
                    {
                        "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_arn},
                        "BucketKeyEnabled": bucket_key,
                    }
                ]
            },
        )

    def put_policy(self, document: dict[str, Any]) -> None:
        self._s3.put_bucket_policy(Bucket=self.name, ExpectedBucketOwner=self.account, Policy=json.dumps(document))

    def block_public_access(self) -> None:
        self._s3.put_public_access_block(
            Bucket=self.name, ExpectedBucketOwner=self.account, PublicAccessBlockConfiguration=BLOCK_ALL
        )
