"""OwnerKeys component: the secrets every droplet's backends sign owner keys with.

The stack generates one secret and keeps it in its state, where a RandomPassword's `result`
is a secret (https://www.pulumi.com/registry/packages/random/api-docs/randompassword/); it
changes only when the resource is replaced, and in prod it is protected like the results
it guards, since a new one would refuse every key issued. canny:ownerKeySecrets, when set,
goes in front of it: its first secret signs and the generated one still verifies, which
is a rotation that loses no gallery (docs/api.md, "Owner keys: the signing secrets").
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_random as random

from infra.config_types import Secret

# What the backends accept: at least 32 characters (canny.settings); letters and digits
# only, so the value needs no quoting in .env and never contains the list's comma.
SECRET_LENGTH = 48


@dataclass(frozen=True)
class OwnerKeysArgs:
    configured: Secret | None
    protect: bool


class OwnerKeys(pulumi.ComponentResource):
    generated: random.RandomPassword
    # CANNY_OWNER_KEY_SECRETS, marked secret: it also lands in the deploy's triggers.
    signing_secrets: pulumi.Output[str]

    def __init__(self, name: str, args: OwnerKeysArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("canny:infra:OwnerKeys", name, None, opts)
        self.generated = random.RandomPassword(
            f"{name}-secret",
            length=SECRET_LENGTH,
            special=False,
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect),
        )
        secrets = [self.generated.result]
        if args.configured is not None:
            secrets.insert(0, args.configured.output())
        self.signing_secrets = pulumi.Output.secret(pulumi.Output.all(*secrets).apply(",".join))
        self.register_outputs({})
