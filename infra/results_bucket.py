"""ResultsBucket component: the Spaces bucket holding every result, and a key for it alone.

Stacks with `canny:resultsStore: spaces` keep results in DigitalOcean Spaces (S3-compatible)
instead of one droplet's disk, so every droplet serves every result. The backends reach the
bucket with a Spaces key granted `readwrite` on this one bucket: a leaked droplet cannot
touch any other bucket of the account.

Provider behaviour relied on (pulumi/pulumi-digitalocean sdk/python/pulumi_digitalocean/
spaces_bucket.py, spaces_key.py and _inputs.py (SpacesKeyGrantArgs,
SpacesBucketLifecycleRuleArgs), bridged from terraform-provider-digitalocean
docs/resources/spaces_bucket.md and spaces_key.md):
- `acl` "private" is the default and keeps objects unreadable without a key;
- `force_destroy` lets a destroy delete a bucket that still holds objects (else it fails);
- `lifecycle_rules[].expiration.days` deletes objects that many days after creation, and
  `noncurrent_version_expiration.days` the old versions a versioned bucket keeps;
- SpacesKey `grants` is a list of {bucket, permission}, permission one of `read`,
  `readwrite`, `fullaccess` (`fullaccess` with bucket ""); `secret_key` is an
  additional secret output (spaces_key.py: additional_secret_outputs=["secretKey"]).
No CORS and no CDN: the gateway's `/results/` proxies the bucket, so browsers never fetch
from a Spaces origin.

No bucket policy and no public object: every object stays private, and the backends hand
out presigned GETs (app/backend/canny/storage/s3_store.py) that the key's `readwrite` grant
can sign, since it reads the bucket's objects. A policy is impossible beside the key anyway:
"Limited-access Spaces keys aren't compatible with PutBucketPolicy. You can't apply a bucket
policy to a bucket that already uses a limited-access key"
(https://docs.digitalocean.com/products/spaces/how-to/configure-bucket-policies/), and
whether such a key may set object ACLs (x-amz-acl) is documented nowhere
(https://docs.digitalocean.com/products/spaces/how-to/manage-access/).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pulumi
import pulumi_digitalocean as digitalocean

# Regions with Spaces Standard Storage:
# https://docs.digitalocean.com/products/spaces/details/availability/
SPACES_REGIONS = frozenset(
    {"nyc3", "ams3", "sfo2", "sfo3", "sgp1", "lon1", "fra1", "tor1", "blr1", "syd1", "atl1"}
)
# S3 bucket naming (what Spaces follows): 3-63 lowercase letters, digits, hyphens; starts and
# ends with a letter or digit. https://docs.digitalocean.com/products/spaces/details/limits/
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
# A versioned bucket keeps a deleted or overwritten object as a noncurrent version; this is
# how long prod can still restore one before the lifecycle rule removes it for good.
NONCURRENT_VERSION_DAYS = 30
# Parts of an upload that never completed cost storage and are never listed: drop them.
ABORT_INCOMPLETE_UPLOAD_DAYS = 1
KEY_PERMISSION = "readwrite"


def spaces_endpoint(region: str) -> str:
    """The S3 endpoint of a region (https://docs.digitalocean.com/reference/api/spaces-api/)."""
    return f"https://{region}.digitaloceanspaces.com"


def results_bucket_name(prefix: str, domain: str) -> str:
    """A bucket name unique across all Spaces users (names are global): stack prefix + domain.

    Deterministic, so a plan and the deploy know it without waiting for the provider.
    """
    slug = re.sub(r"[^a-z0-9]+", "-", f"{prefix}-results-{domain}".lower())
    return slug[:63].strip("-")


@dataclass(frozen=True)
class ResultsBucketArgs:
    bucket_name: str
    region: str
    # Days after which a result's objects expire; 0 keeps everything.
    retention_days: int
    # Prod: versioned, protected, kept when the stack is destroyed. Test: emptied and deleted.
    outlives_stack: bool
    # The stack's DigitalOcean Project, which lists the bucket among its resources.
    project_id: pulumi.Input[str] | None = None

    def __post_init__(self) -> None:
        problems = []
        if not _BUCKET_NAME.match(self.bucket_name):
            problems.append(f"bucket name {self.bucket_name!r} is not a valid Spaces name")
        if self.region not in SPACES_REGIONS:
            problems.append(f"region {self.region!r} has no Spaces ({sorted(SPACES_REGIONS)})")
        if self.retention_days < 0:
            problems.append("retention_days must be 0 (keep everything) or more")
        if problems:
            raise ValueError("; ".join(problems))


def lifecycle_rules(args: ResultsBucketArgs) -> list[digitalocean.SpacesBucketLifecycleRuleArgs]:
    """Expire results after the retention period; on a versioned bucket, old versions too."""
    rules = []
    if args.retention_days > 0:
        rules.append(
            digitalocean.SpacesBucketLifecycleRuleArgs(
                id="expire-results",
                enabled=True,
                expiration=digitalocean.SpacesBucketLifecycleRuleExpirationArgs(
                    days=args.retention_days
                ),
                abort_incomplete_multipart_upload_days=ABORT_INCOMPLETE_UPLOAD_DAYS,
            )
        )
    if args.outlives_stack:
        rules.append(
            digitalocean.SpacesBucketLifecycleRuleArgs(
                id="expire-old-versions",
                enabled=True,
                noncurrent_version_expiration=(
                    digitalocean.SpacesBucketLifecycleRuleNoncurrentVersionExpirationArgs(
                        days=NONCURRENT_VERSION_DAYS
                    )
                ),
            )
        )
    return rules


class ResultsBucket(pulumi.ComponentResource):
    bucket: digitalocean.SpacesBucket
    key: digitalocean.SpacesKey

    def __init__(
        self, name: str, args: ResultsBucketArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("canny:infra:ResultsBucket", name, None, opts)
        self.args = args
        self.bucket = digitalocean.SpacesBucket(
            f"{name}-results-bucket",
            name=args.bucket_name,
            region=args.region,
            acl="private",
            versioning=digitalocean.SpacesBucketVersioningArgs(enabled=args.outlives_stack),
            lifecycle_rules=lifecycle_rules(args),
            force_destroy=not args.outlives_stack,
            opts=pulumi.ResourceOptions(
                parent=self,
                protect=args.outlives_stack,
                # Even a `pulumi destroy` of prod (after unprotecting) leaves the users'
                # results in place: https://www.pulumi.com/docs/iac/concepts/options/retainondelete/
                retain_on_delete=args.outlives_stack,
            ),
        )
        self.key = digitalocean.SpacesKey(
            f"{name}-results-key",
            name=f"{name}-results",
            grants=[
                digitalocean.SpacesKeyGrantArgs(bucket=self.bucket.name, permission=KEY_PERMISSION)
            ],
            opts=pulumi.ResourceOptions(parent=self),
        )
        if args.project_id is not None:
            # Spaces buckets are a project resource type ("The following resource types can
            # be associated with a project: ... Spaces Buckets": terraform-provider-
            # digitalocean docs/resources/project.md); the bucket's `urn` is do:space:<name>.
            digitalocean.ProjectResources(
                f"{name}-results-project-resources",
                project=args.project_id,
                resources=[self.bucket.bucket_urn],
                opts=pulumi.ResourceOptions(parent=self),
            )
        self.register_outputs({"bucket": self.bucket.name, "endpoint": self.endpoint_url})

    @property
    def endpoint_url(self) -> str:
        return spaces_endpoint(self.args.region)

    def settings_environment(self) -> dict[str, str]:
        """What the backends need besides the key, and where the gateway's /results/ finds
        the images (path-style bucket URL): plain values, fine in a command line."""
        return {
            "CANNY_STORAGE": "s3",
            "CANNY_S3_BUCKET": self.args.bucket_name,
            "CANNY_S3_ENDPOINT_URL": self.endpoint_url,
            "CANNY_S3_REGION": self.args.region,
            "CANNY_RESULTS_BUCKET_URL": f"{self.endpoint_url}/{self.args.bucket_name}",
        }

    def credentials_stdin(self) -> pulumi.Output[str]:
        """The key as two stdin lines (access key id, secret) for storage_credentials.sh."""
        return pulumi.Output.secret(
            pulumi.Output.concat(self.key.access_key, "\n", self.key.secret_key, "\n")
        )
