"""The policy pack entry point the Pulumi CLI runs (`--policy-pack infra/policy`).

Constructing the PolicyPack starts the analyzer the engine talks to, so this file only does
that; the rules live in infra/policy/rules.py. The repository root is put on sys.path so
the rules import as the `infra` package, as in infra/__main__.py.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from pulumi_policy import EnforcementLevel, PolicyPack

from infra.policy.rules import POLICIES

PolicyPack("canny-invariants", policies=POLICIES, enforcement_level=EnforcementLevel.MANDATORY)
