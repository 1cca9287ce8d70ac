#!/usr/bin/env python3
"""Checks the IAM policies in deploy/iam with parliament (PyPI), failing on any finding.

    python3 scripts/check_iam.py deploy/iam/*.json

parliament reads every document as an identity policy. Two of its findings are wrong for trust policies and are set
aside, each by its exact detail: a trust policy has no Resource (it is attached to the role it protects), and
parliament's list of federation sources predates EKS, so an EKS OIDC provider ARN is "unknown" to it. The third and
last set-aside is the community auditor's CREDENTIALS_EXPOSURE for sts:AssumeRole in organization-policy.json:
watching an organization is assuming a role in every account, limited there to the one read role's name. The
fourth is UNKNOWN_ACTION for sso:ListRegions, exactly that text: the action is IAM Identity Center's (the
ListRegions operation of botocore's sso-admin model, added with multi-Region replication in 2025) and parliament's
action database predates it.
Anything else, on any file, fails the check.
"""
import re
import sys

from parliament import analyze_policy_string

NO_RESOURCE = "Statement contains neither Resource nor NotResource"
UNKNOWN_TO_PARLIAMENT = "Unknown action sso:ListRegions"
EKS_OIDC_PROVIDER = re.compile(r"^arn:aws[-a-z]*:iam::\d{12}:oidc-provider/oidc\.eks\.[a-z0-9-]+\.amazonaws\.com/id/\w+$")


def set_aside(path, finding):
    trust_policy = path.endswith("-trust-policy.json")
    if trust_policy and finding.issue == "MALFORMED" and finding.detail == NO_RESOURCE:
        return True
    if trust_policy and finding.issue == "UNKNOWN_FEDERATION_SOURCE" and EKS_OIDC_PROVIDER.match(str(finding.detail)):
        return True
    if (
        path.endswith("organization-policy.json")
        and finding.issue == "CREDENTIALS_EXPOSURE"
        and isinstance(finding.location, dict)
        and finding.location.get("actions") == ["sts:assumerole"]
    ):
        return True
    if finding.issue == "UNKNOWN_ACTION" and finding.detail == UNKNOWN_TO_PARLIAMENT:
        return True
    return False


def main(paths):
    if not paths:
        print("usage: check_iam.py POLICY.json...", file=sys.stderr)
        return 2
    failed = False
    for path in paths:
        with open(path) as file:
            policy = analyze_policy_string(file.read(), filepath=path, include_community_auditors=True)
        findings = [finding for finding in policy.findings if not set_aside(path, finding)]
        for finding in findings:
            failed = True
            print(f"{path}: {finding.issue}: {finding.detail} ({finding.location})", file=sys.stderr)
        if not findings:
            print(f"{path}: no findings")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
