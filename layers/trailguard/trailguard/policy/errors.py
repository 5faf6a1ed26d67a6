"""The errors of the policy package: each one is a clear, one-line reason."""

from __future__ import annotations


class PolicyError(Exception):
    """Base of every error raised by ``trailguard.policy``."""


class PolicyParseError(PolicyError, ValueError):
    """The text or mapping given is not a policy AWS would accept."""


class PolicyInputError(PolicyError, ValueError):
    """An account id, organization id, ARN, bucket name or prefix given to the builder is invalid."""


class PolicyRepairError(PolicyError):
    """A correct policy cannot be produced: the repair is refused and nothing should be written."""


class PolicySizeError(PolicyRepairError):
    """The policy would exceed what AWS stores (a KMS key policy 32,768 bytes, an S3 bucket policy 20,480):
    ``resource`` is ``"key"`` or ``"bucket"``, ``size`` and ``limit`` are in bytes; the message says what
    to do instead."""

    def __init__(self, resource: str, size: int, limit: int, advice: str) -> None:
        self.resource = resource
        self.size = size
        self.limit = limit
        what = "KMS key policy" if resource == "key" else "S3 bucket policy"
        super().__init__(
            f"the {resource} policy would be {size:,} bytes, over the {what} limit of {limit:,} bytes; {advice}"
        )
