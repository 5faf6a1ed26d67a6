"""The ``trailguard`` command line: ``python -m trailguard policy key|bucket [...]``, ``catalogue`` and ``audit``
(``trailguard.audit``).

``policy`` prints the central key or log bucket policy TrailGuard expects (or, with ``--merge FILE``, the existing
policy repaired) as JSON on stdout. Warnings and the changes a merge made go to stderr; an error is one
line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from trailguard import audit
from trailguard.catalogue import markdown_table
from trailguard.policy import (
    PolicyDocument,
    PolicyError,
    bucket_policy,
    key_policy,
    merge_bucket_policy,
    merge_key_policy,
    parse_policy,
)
from trailguard.policy.ids import is_account_id

EXIT_OK = 0
EXIT_ERROR = 2


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _UsageError(f"{self.prog}: error: {message}")


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--management-account",
        type=audit.account_id_argument,
        help="management account: owner of the organization trail",
    )
    parser.add_argument("--org-id", type=audit.org_id_argument, help="organization id (o-...), for organization trails")
    parser.add_argument(
        "--trail-account",
        type=audit.account_id_argument,
        action="append",
        default=[],
        help="an account whose own trails deliver with this key or bucket (repeatable)",
    )
    parser.add_argument(
        "--accounts-file",
        metavar="FILE",
        help="account ids whose trails must be admitted, separated by spaces, commas or new lines (- for stdin), "
        "e.g. the organization's active accounts",
    )
    form = parser.add_mutually_exclusive_group()
    form.add_argument(
        "--organization-wide",
        dest="organization_wide",
        action="store_const",
        const=True,
        default=None,
        help="always admit every account of the organization (--org-id) with one grant; by default the "
        "grants are per account while the policy fits AWS's size limit, organization-wide beyond",
    )
    form.add_argument(
        "--per-account",
        dest="organization_wide",
        action="store_const",
        const=False,
        help="always one grant entry per account, even where the policy would not fit (then refused)",
    )
    parser.add_argument(
        "--merge",
        metavar="FILE",
        help="repair this existing policy (JSON file, - for stdin) instead of building",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="trailguard", description="TrailGuard tools.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    policy = commands.add_parser("policy", help="print the key or bucket policy TrailGuard expects")
    kinds = policy.add_subparsers(dest="kind", required=True, parser_class=_Parser)
    key = kinds.add_parser("key", help="the central KMS key policy")
    key.add_argument("--key-account", type=audit.account_id_argument, required=True, help="account of the central key")
    key.add_argument("--key-arn", help="ARN of the central key (optional; sets partition and region)")
    key.add_argument(
        "--log-reader",
        action="append",
        default=[],
        help="principal ARN allowed to decrypt log files (repeatable)",
    )
    _common(key)
    bucket = kinds.add_parser("bucket", help="the central log bucket policy")
    bucket.add_argument("--bucket", required=True, help="name of the central log bucket")
    bucket.add_argument("--prefix", help="S3 key prefix of the trails, if any")
    _common(bucket)
    commands.add_parser("catalogue", help="print the check catalogue as the README's Markdown table")
    audit.add_arguments(
        commands.add_parser(
            "audit",
            help="evaluate the organization as the sweep does, from this workstation (report mode unless --fix)",
            description="Evaluate the central key, the central bucket and every trail and account of the "
            "organization with your credentials, as the scheduled sweep does. Exit 0: no open finding; 1: open "
            "findings (or an incomplete audit); 2: usage or credentials error.",
        )
    )
    return parser


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _read_existing(path: str) -> PolicyDocument:
    try:
        data = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except OSError as error:
        raise _UsageError(f"trailguard: error: cannot read {path}: {error.strerror or error}") from None
    try:
        return parse_policy(data)
    except PolicyError as error:
        raise _UsageError(f"trailguard: error: {path}: {error}") from None


def _read_accounts(path: str | None) -> list[str]:
    """The account ids of ``--accounts-file`` (none without it)."""
    if path is None:
        return []
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text()
    except OSError as error:
        raise _UsageError(f"trailguard: error: cannot read {path}: {error.strerror or error}") from None
    accounts = text.replace(",", " ").split()
    invalid = [account for account in accounts if not is_account_id(account)]
    if invalid:
        raise _UsageError(f"trailguard: error: {path}: {invalid[0]!r} is not a 12-digit AWS account id")
    return accounts


def _form_note(args: argparse.Namespace, built: dict[str, Any]) -> None:
    """Say so when TrailGuard chose the organization-wide form (it was not asked for)."""
    if args.organization_wide is None and "aws:SourceOrgID" in json.dumps(built):
        print(
            f"trailguard: the per-account grants would not fit the {args.kind} policy's size limit: "
            f"the organization-wide form (aws:SourceOrgID = {args.org_id}) is printed",
            file=sys.stderr,
        )


def _run(args: argparse.Namespace) -> dict[str, Any]:
    existing = _read_existing(args.merge) if args.merge else None
    if existing is not None:
        for warning in existing.warnings:
            print(f"trailguard: warning: {args.merge}: {_one_line(warning)}", file=sys.stderr)
    accounts = [*args.trail_account, *_read_accounts(args.accounts_file)]
    if args.kind == "key":
        options: dict[str, Any] = {
            "management_account": args.management_account,
            "org_id": args.org_id,
            "trail_accounts": accounts,
            "log_readers": args.log_reader,
            "key_arn": args.key_arn,
            "organization_wide": args.organization_wide,
        }
        if existing is None:
            built = key_policy(args.key_account, **options)
            _form_note(args, built)
            return built
        result = merge_key_policy(existing, args.key_account, **options)
    else:
        where = (args.bucket, accounts, args.management_account, args.org_id, args.prefix)
        if existing is None:
            built = bucket_policy(*where, organization_wide=args.organization_wide)
            _form_note(args, built)
            return built
        result = merge_bucket_policy(existing, *where, organization_wide=args.organization_wide)
    for change in result.changes:
        print(f"trailguard: {_one_line(change)}", file=sys.stderr)
    if not result.changes:
        print("trailguard: the existing policy already serves; nothing to change", file=sys.stderr)
    return result.policy


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command == "catalogue":
            print(markdown_table())
            return EXIT_OK
        if args.command == "audit":
            return audit.run(args)
        policy = _run(args)
    except SystemExit as done:  # --help
        return done.code if isinstance(done.code, int) else EXIT_OK
    except _UsageError as error:
        print(_one_line(str(error)), file=sys.stderr)
        return EXIT_ERROR
    except audit.AuditError as error:
        print(_one_line(str(error)), file=sys.stderr)
        return EXIT_ERROR
    except PolicyError as error:
        print(f"trailguard: error: {_one_line(str(error))}", file=sys.stderr)
        return EXIT_ERROR
    print(json.dumps(policy, indent=2))
    return EXIT_OK
