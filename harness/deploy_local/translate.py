"""The SAM transform, run locally: packaged SAM template -> plain CloudFormation JSON.

Runs in the template tooling environment (.venv-tools: aws-sam-translator, the library CloudFormation's
`AWS::Serverless-2016-10-31` transform is built on, and SAM CLI's YAML reader), by path, so that it needs
nothing from this repository:

    .venv-tools/bin/python harness/deploy_local/translate.py packaged.yaml parameters.json translated.json

On AWS, CloudFormation runs this transform itself; moto does not (it skips every AWS::Serverless::*
resource), so the rehearsal deploys the translated template instead.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

USAGE = "usage: translate.py PACKAGED_TEMPLATE PARAMETERS_JSON OUTPUT_JSON"


def _no_managed_policy_map() -> dict[str, str]:
    # Only policies given by managed-policy *name* need IAM's list; the template gives statements and ARNs.
    raise RuntimeError("the template names a managed policy: the local translation cannot list IAM's policies")


def translate(packaged: str, parameters: dict[str, Any]) -> dict[str, Any]:
    from samcli.yamlhelper import yaml_parse  # type: ignore[import-not-found, unused-ignore]
    from samtranslator.parser.parser import Parser  # type: ignore[import-not-found, unused-ignore]
    from samtranslator.translator.translator import Translator  # type: ignore[import-not-found, unused-ignore]

    template = yaml_parse(packaged)
    translated: dict[str, Any] = Translator(None, Parser()).translate(
        template, parameter_values=dict(parameters), get_managed_policy_map=_no_managed_policy_map
    )
    return translated


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(USAGE, file=sys.stderr)
        return 2
    packaged, parameters, output = (Path(arg) for arg in argv)
    try:
        translated = translate(packaged.read_text(), json.loads(parameters.read_text()))
    except Exception as error:  # noqa: BLE001 - the translator's errors are many; report any of them plainly
        causes = [str(getattr(cause, "message", cause)) for cause in getattr(error, "causes", None) or []]
        print(f"SAM translation failed: {type(error).__name__}: {error}", *causes, sep="\n  ", file=sys.stderr)
        return 1
    output.write_text(json.dumps(translated, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
