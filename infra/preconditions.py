"""What the DigitalOcean account must already hold before a stack creates anything.

Each check is a provider lookup (an invoke), which `pulumi preview` runs too, so a missing
prerequisite stops the stack before its first resource with a message saying what to do,
instead of failing minutes into `pulumi up` with half a stack created.

- The domain on DigitalOcean DNS: the stack's records are created in it, and the load
  balancer's Let's Encrypt certificate is only issued for a domain DigitalOcean serves; the
  provider waits for the certificate's state to become `verified` before the balancer can use
  it (terraform-provider-digitalocean digitalocean/certificate/resource_certificate.go,
  StateChangeConf Pending "pending" -> Target "verified"). `digitalocean.get_domain` fails
  when "the provided domain name is not managed with your DigitalOcean account"
  (docs/data-sources/domain.md; datasource_domain.go: "domain not found").
- The region's default VPC, for test stacks: "If you do not currently have a VPC network in a
  specific datacenter region, the first one that you create will be set as the default for
  that region. The default VPC for a region cannot be changed or deleted." (DigitalOcean API
  reference, VPCs, "Create a New VPC", POST /v2/vpcs). A test stack first in its region
  would own a VPC its destroy can never delete (the provider retries the 403 for its
  two-minute delete timeout, then fails: digitalocean/vpc/resource_vpc.go,
  resourceDigitalOceanVPCDelete). `get_vpc` with only
  a region returns that region's default VPC and fails when there is none
  (docs/data-sources/vpc.md; datasource_vpc.go findRegionDefaultVPC: "unable to find default
  VPC in <region> region").
"""

from __future__ import annotations

import pulumi
import pulumi_digitalocean as digitalocean


class PreconditionError(pulumi.RunError):
    """The account lacks something the stack needs; the message says how to provide it.

    A RunError: Pulumi prints its message alone, without a Python traceback.
    """


def require_domain_on_dns(domain: str) -> None:
    try:
        digitalocean.get_domain(name=domain)
    # The SDK raises a plain Exception for a failed invoke (pulumi/runtime/invoke.py:
    # "invoke of <token> failed: ..."); its text carries the provider's reason.
    except Exception as error:
        raise PreconditionError(
            f"canny:domain {domain!r} must be a domain on this account's DigitalOcean DNS "
            "before the first `pulumi up`: the stack's records go there and the load "
            "balancer's Let's Encrypt certificate needs it. Add it (`doctl compute domain "
            f"create {domain}` or Networking > Domains) and point the registrar's name servers "
            f"at ns1/ns2/ns3.digitalocean.com. Lookup said: {error}"
        ) from error


def require_default_vpc(region: str) -> None:
    try:
        digitalocean.get_vpc(region=region)
    except Exception as error:
        raise PreconditionError(
            f"region {region!r} has no default VPC yet, and the first VPC made in a region "
            "becomes its default, which can never be deleted: this test stack's destroy would "
            "fail forever. Claim the default once, outside Pulumi, before any test stack runs "
            f"there: `doctl vpcs create --name default-{region} --region {region}` "
            f"(docs/deploy.md, 'Before the first pulumi up'). Lookup said: {error}"
        ) from error
