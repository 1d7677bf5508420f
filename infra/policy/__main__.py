"""The policy pack entry point the Pulumi CLI runs (`--policy-pack infra/policy`).

Constructing the PolicyPack starts the analyzer the engine talks to, so this file only does
that; the rules live in infra/policy/rules.py. PulumiPolicy.yaml runs it in the project's
virtualenv, where the project is pip-installed: `infra.policy` imports as a package.
"""

from pulumi_policy import EnforcementLevel, PolicyPack

from infra.policy.rules import POLICIES

PolicyPack("canny-invariants", policies=POLICIES, enforcement_level=EnforcementLevel.MANDATORY)
