"""Credentials for each (account, region): the function's own for its own account, the remediation role elsewhere.

A SessionFactory is made per invocation and passed down (Cloud Custodian's idea); it caches clients and
assumed-role credentials for that invocation only. Retries are botocore's standard mode.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from trailguard import __version__
from trailguard.arns import role_arn
from trailguard.errors import TrailGuardError

CLIENT_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 5},
    connect_timeout=5,
    read_timeout=20,
    user_agent_extra=f"trailguard/{__version__}",
)

# Error codes that a later retry can fix: they are raised so that Lambda retries and the DLQ keeps the event.
TRANSIENT_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "RequestThrottled",
        "RequestThrottledException",
        "SlowDown",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "InternalError",
        "InternalFailure",
        "InternalServerError",
        "InternalException",
        "KMSInternalException",
        "ConflictException",
        "RequestTimeout",
        "RequestTimeoutException",
        "PriorRequestNotComplete",
        "IDPCommunicationError",
        "OperationAborted",
        "ConcurrentModificationException",
        "ProvisionedThroughputExceededException",
        "TransactionInProgressException",
    }
)


def error_code(error: BaseException) -> str:
    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Code", "Unknown"))
    return type(error).__name__


def error_message(error: BaseException) -> str:
    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Message", "")) or error_code(error)
    return str(error) or type(error).__name__


def is_transient(error: BaseException) -> bool:
    if isinstance(error, ClientError):
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return error_code(error) in TRANSIENT_CODES or (isinstance(status, int) and status >= 500)
    return isinstance(error, BotoCoreError)  # endpoint and connection errors


class AccessError(TrailGuardError):
    """The credentials for an account could not be obtained (missing or untrusting remediation role)."""

    def __init__(self, account: str, role: str, code: str, message: str) -> None:
        super().__init__(
            f"cannot assume {role} ({code}: {message}); deploy the TrailGuard member stack "
            f"(templates/member.yaml) in account {account} so its remediation role trusts this function"
        )
        self.account = account
        self.role = role
        self.code = code


class SessionFactory:
    """Gives a boto3 client for a service in an account and region, with the right credentials."""

    def __init__(
        self,
        role_name: str,
        *,
        own_account: str | None = None,
        base: boto3.Session | None = None,
        partition: str = "aws",
    ) -> None:
        self._base = base or boto3.Session()
        self._role_name = role_name
        self._partition = partition
        self._own_account = own_account
        self._sessions: dict[str, boto3.Session] = {}
        self._clients: dict[tuple[str, str, str], Any] = {}
        self._lock = threading.RLock()  # the organization scan asks for clients from several threads

    @property
    def own_account(self) -> str:
        with self._lock:
            if self._own_account is None:
                self._own_account = _caller_account(self._base)
            return self._own_account

    def client(self, service: str, account: str, region: str) -> Any:
        """A client (thread-safe once made); clients and sessions are created one at a time."""
        key = (service, account, region)
        with self._lock:
            if key not in self._clients:
                session = self.session(account)
                self._clients[key] = session.client(service, region_name=region, config=CLIENT_CONFIG)
            return self._clients[key]

    def session(self, account: str) -> boto3.Session:
        with self._lock:
            if account == self.own_account:
                return self._base
            if account not in self._sessions:
                self._sessions[account] = self._assume(account)
            return self._sessions[account]

    def _assume(self, account: str) -> boto3.Session:
        arn = role_arn(self._partition, account, self._role_name)
        region = self._base.region_name or os.environ.get("AWS_REGION") or "us-east-1"
        sts = self._base.client("sts", region_name=region, config=CLIENT_CONFIG)
        try:
            credentials = sts.assume_role(RoleArn=arn, RoleSessionName="trailguard", DurationSeconds=900)["Credentials"]
        except ClientError as error:
            if is_transient(error):
                raise
            raise AccessError(account, arn, error_code(error), error_message(error)) from error
        return boto3.Session(
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
        )


_CALLER_ACCOUNT: dict[str, str] = {}


def _caller_account(session: boto3.Session) -> str:
    """The function's own account: one STS call per container (the identity does not change while warm)."""
    access_key = session.get_credentials().access_key if session.get_credentials() else ""
    if access_key not in _CALLER_ACCOUNT:
        region = session.region_name or os.environ.get("AWS_REGION") or "us-east-1"
        sts = session.client("sts", region_name=region, config=CLIENT_CONFIG)
        _CALLER_ACCOUNT[access_key] = str(sts.get_caller_identity()["Account"])
    return _CALLER_ACCOUNT[access_key]
