"""Clients for each (account, region): the function's own credentials at home, the remediation role elsewhere.

A SessionFactory is long-lived: build one per Lambda container, outside the handler, and pass it to every
invocation (Cloud Custodian's session factory, made to last). Everything it keeps is bounded:

- one botocore session serves every account, so the service models it loads are loaded once and shared by all
  the clients; a client for another account is built from that session with the account's assumed-role keys;
- assumed-role credentials are kept per account until `REFRESH_MARGIN` before they expire, then the role is
  assumed again (so a client handed out stays valid for the longest Lambda invocation);
- AssumeRole runs under the account's own lock: two threads never assume the same role twice, while different
  accounts are assumed in parallel (the organization scan asks from several threads);
- `release(account)` drops an account's clients when its work is done, and at most `max_accounts` accounts are
  kept warm (least recently used first out), so memory does not grow with the size of the organization.

Clients follow the endpoint configured for the process (AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_<SERVICE> or the
shared config file), as botocore does; for such a local endpoint (moto server, LocalStack) S3 uses path-style
addressing and S3 Control requests go to the endpoint itself rather than to `<account>.<endpoint host>`.
Retries are botocore's standard mode.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import botocore.session
from botocore.config import Config
from botocore.configprovider import ConfiguredEndpointProvider
from botocore.exceptions import BotoCoreError, ClientError

from trailguard import __version__
from trailguard.arns import role_arn
from trailguard.errors import TrailGuardError

if TYPE_CHECKING:
    import boto3

CLIENT_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 5},
    connect_timeout=5,
    read_timeout=20,
    user_agent_extra=f"trailguard/{__version__}",
)
# One hour: the member template's MaxSessionDuration, and the longest a role assumed from a role can last.
ASSUME_DURATION = timedelta(hours=1)
# The longest Lambda invocation: credentials closer than this to their expiry are renewed before use.
REFRESH_MARGIN = timedelta(minutes=15)
# Accounts whose credentials and clients stay warm between invocations (least recently used first out).
MAX_WARM_ACCOUNTS = 16
ROLE_SESSION_NAME = "trailguard"

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

Clock = Callable[[], datetime]


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


@dataclass(frozen=True)
class AssumedCredentials:
    """The keys AssumeRole gave for one account, and when they expire."""

    access_key: str
    secret_key: str
    token: str
    expires: datetime

    @classmethod
    def from_response(cls, credentials: dict[str, Any]) -> AssumedCredentials:
        return cls(
            access_key=str(credentials["AccessKeyId"]),
            secret_key=str(credentials["SecretAccessKey"]),
            token=str(credentials["SessionToken"]),
            expires=credentials["Expiration"],
        )

    def fresh(self, now: datetime, margin: timedelta) -> bool:
        """Still usable for `margin` from `now`."""
        return now + margin < self.expires

    def client_arguments(self) -> dict[str, str]:
        return {
            "aws_access_key_id": self.access_key,
            "aws_secret_access_key": self.secret_key,
            "aws_session_token": self.token,
        }


@dataclass
class _Account:
    """What the factory keeps for one account; its lock makes one AssumeRole at a time for the account."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    credentials: AssumedCredentials | None = None  # None: the function's own credentials
    clients: dict[tuple[str, str], Any] = field(default_factory=dict)


def utc_now() -> datetime:
    return datetime.now(UTC)


def client_config(service: str, endpoint_url: str | None) -> Config:
    """CLIENT_CONFIG, with path-style addressing for S3 at a configured endpoint (its host names no bucket)."""
    if endpoint_url and service == "s3":
        return CLIENT_CONFIG.merge(Config(s3={"addressing_style": "path"}))
    return CLIENT_CONFIG


def without_account_host(url: str, endpoint_url: str) -> str:
    """`http://<account>.<endpoint host>/...` -> `http://<endpoint host>/...`; any other URL unchanged.

    AWS serves S3 Control at `<account>.s3-control.<region>.amazonaws.com` and botocore's endpoint rules add
    the account to a configured endpoint's host too, which a local endpoint does not answer (the account is
    also sent in the x-amz-account-id header, which is what such endpoints read).
    """
    parts = urlsplit(url)
    account, _, host = parts.netloc.partition(".")
    if account.isdigit() and host == urlsplit(endpoint_url).netloc:
        return urlunsplit(parts._replace(netloc=host))
    return url


def _shared_session(base: Any) -> Any:
    """The botocore session under `base` (a boto3.Session wraps one), or a new one."""
    if base is None:
        return botocore.session.Session()
    return getattr(base, "_session", base)


class SessionFactory:
    """Gives a client for a service in an account and region, with the right credentials; lives in the container.

    Thread-safe. Clients are built one at a time (botocore sessions are not thread-safe; building is CPU work
    only); AWS calls (AssumeRole, GetCallerIdentity) are made under a lock of their account alone.
    """

    def __init__(
        self,
        role_name: str,
        *,
        own_account: str | None = None,
        base: boto3.Session | botocore.session.Session | None = None,
        partition: str = "aws",
        clock: Clock = utc_now,
        duration: timedelta = ASSUME_DURATION,
        refresh_margin: timedelta = REFRESH_MARGIN,
        max_accounts: int = MAX_WARM_ACCOUNTS,
    ) -> None:
        if refresh_margin >= duration:
            raise ValueError("refresh_margin must be shorter than the credentials' duration")
        self._session = _shared_session(base)
        self._role_name = role_name
        self._partition = partition
        self._own_account = own_account
        self._clock = clock
        self._duration = duration
        self._margin = refresh_margin
        self._max_accounts = max_accounts
        self._own = _Account()  # the function's own account: its clients serve every invocation
        self._accounts: OrderedDict[str, _Account] = OrderedDict()  # least recently used first
        self._accounts_lock = threading.Lock()  # held for dictionary updates only, never for an AWS call
        self._build_lock = threading.Lock()

    @property
    def own_account(self) -> str:
        """The function's own account: one GetCallerIdentity for the life of the factory."""
        if self._own_account is None:
            with self._own.lock:
                if self._own_account is None:
                    sts = self._cached(self._own, "sts", self._home_region())
                    self._own_account = str(sts.get_caller_identity()["Account"])
        return self._own_account

    def client(self, service: str, account: str, region: str) -> Any:
        """A client (thread-safe once made) for `service` in `account` and `region`.

        Raises AccessError when the remediation role of `account` cannot be assumed, and the ClientError
        itself when the refusal is transient (throttling, STS unavailable), so that the event is retried.
        """
        if account == self.own_account:
            with self._own.lock:
                return self._cached(self._own, service, region)
        entry = self._entry(account)
        with entry.lock:
            if entry.credentials is None or not entry.credentials.fresh(self._clock(), self._margin):
                entry.credentials = self._assume(account)
                entry.clients.clear()  # they sign with the previous keys
            return self._cached(entry, service, region)

    def release(self, account: str) -> None:
        """Drop the clients of `account` (its work is done); its credentials stay until they near expiry.

        The function's own account keeps its clients: they serve every invocation.
        """
        with self._accounts_lock:
            entry = self._accounts.get(account)
        if entry is not None:
            with entry.lock:
                entry.clients.clear()

    def warm_accounts(self) -> list[str]:
        """The accounts whose credentials are kept, least recently used first."""
        with self._accounts_lock:
            return list(self._accounts)

    def _entry(self, account: str) -> _Account:
        with self._accounts_lock:
            entry = self._accounts.get(account)
            if entry is None:
                entry = self._accounts[account] = _Account()
            self._accounts.move_to_end(account)
            while len(self._accounts) > self._max_accounts:
                self._accounts.popitem(last=False)  # a thread still using it keeps its own reference
            return entry

    def _cached(self, entry: _Account, service: str, region: str) -> Any:
        """The entry's client for (service, region), built on first use; the caller holds `entry.lock`."""
        key = (service, region)
        client = entry.clients.get(key)
        if client is None:
            client = entry.clients[key] = self._build(service, region, entry.credentials)
        return client

    def _build(self, service: str, region: str, credentials: AssumedCredentials | None) -> Any:
        keys = credentials.client_arguments() if credentials else {}
        with self._build_lock:
            endpoint = self._configured_endpoint(service)
            client = self._session.create_client(
                service, region_name=region, config=client_config(service, endpoint), **keys
            )
        if endpoint and service == "s3control":
            client.meta.events.register("before-sign.s3-control", _LocalAccountHost(endpoint))
        return client

    def _configured_endpoint(self, service: str) -> str | None:
        """The endpoint URL configured for `service` (environment or shared config file), as botocore reads it."""
        if self._session.get_config_variable("ignore_configured_endpoint_urls"):
            return None
        provider = ConfiguredEndpointProvider(
            full_config=self._session.full_config,
            scoped_config=self._session.get_scoped_config(),
            client_name=service,
        )
        endpoint = provider.provide()
        return str(endpoint) if endpoint else None

    def _home_region(self) -> str:
        region = self._session.get_config_variable("region") or os.environ.get("AWS_REGION")
        return str(region or "us-east-1")

    def _assume(self, account: str) -> AssumedCredentials:
        arn = role_arn(self._partition, account, self._role_name)
        sts = self.client("sts", self.own_account, self._home_region())
        try:
            response = sts.assume_role(
                RoleArn=arn,
                RoleSessionName=ROLE_SESSION_NAME,
                DurationSeconds=int(self._duration.total_seconds()),
            )
        except ClientError as error:
            if is_transient(error):
                raise
            raise AccessError(account, arn, error_code(error), error_message(error)) from error
        return AssumedCredentials.from_response(response["Credentials"])


class _LocalAccountHost:
    """`before-sign` hook of an S3 Control client at a configured endpoint: see `without_account_host`."""

    def __init__(self, endpoint_url: str) -> None:
        self._endpoint_url = endpoint_url

    def __call__(self, request: Any, **_: Any) -> None:
        request.url = without_account_host(request.url, self._endpoint_url)
