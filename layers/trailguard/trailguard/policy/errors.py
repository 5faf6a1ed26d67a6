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
