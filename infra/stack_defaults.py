"""What a stack gets when its file leaves a key out: the one place prod and test stacks differ
by default. Plain data, so CI's wrapper (ci/pulumi_cli.py) reads the same defaults as the
program without importing Pulumi.

Prod: a fleet of two droplets behind the load balancer, results in Spaces (the only store
every droplet shares), never ephemeral. Test stacks: one droplet, no balancer, results on its
own disk (`disk`), so review stacks stay cheap.
"""

from __future__ import annotations

from infra.stack_name import PROD_STACK, TEST_STACK

STACK_DEFAULTS = {
    PROD_STACK: {
        "ephemeral": "false",
        "dropletCount": "2",
        "loadBalancer": "true",
        "resultsStore": "spaces",
    },
    TEST_STACK: {
        "ephemeral": "true",
        "dropletCount": "1",
        "loadBalancer": "false",
        "resultsStore": "disk",
    },
}


def stack_defaults(stack: str) -> dict[str, str]:
    """The `canny:` defaults (keys without the namespace) of the named stack."""
    return STACK_DEFAULTS[PROD_STACK if stack == PROD_STACK else TEST_STACK]
