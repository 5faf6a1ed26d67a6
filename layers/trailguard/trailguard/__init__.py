"""TrailGuard: keeps every CloudTrail trail of an AWS Organization on the central KMS key."""

__version__ = "0.1.0"
