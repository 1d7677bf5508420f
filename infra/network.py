"""Network component: the stack's DigitalOcean Project and its private VPC."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_digitalocean as digitalocean


@dataclass(frozen=True)
class NetworkArgs:
    region: str
    description: str
    environment: str


class Network(pulumi.ComponentResource):
    """Groups the stack's resources in the DigitalOcean console and gives them one VPC."""

    project: digitalocean.Project
    vpc: digitalocean.Vpc

    def __init__(
        self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("canny:infra:Network", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.project = digitalocean.Project(
            f"{name}-project",
            name=name,
            description=args.description,
            environment=args.environment,
            purpose="Web Application",
            opts=child,
        )
        self.vpc = digitalocean.Vpc(
            f"{name}-vpc",
            name=f"{name}-vpc",
            region=args.region,
            description=args.description,
            opts=child,
        )
        self.register_outputs({"project_id": self.project.id, "vpc_id": self.vpc.id})
