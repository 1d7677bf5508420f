"""The region a self-managed S3 state backend needs, so Pulumi's first S3 call works.

Pulumi opens an `s3://` backend URL with gocloud.dev's s3blob on the AWS SDK for Go v2,
which takes the region from the URL's `region` parameter or from the environment
(AWS_REGION, AWS_DEFAULT_REGION) and refuses every call without one: google/go-cloud
aws/aws.go V2ConfigFromURLParams ("region: The AWS region for requests; sets WithRegion").
A Spaces URL with only `endpoint=` fails on first use with "MissingRegion: could not find
region configuration" (pulumi/docs#11755, pulumi/pulumi#13899).

The documented URL (docs/gitlab.md) carries `&region=`; for a URL without it whose endpoint
is a Spaces endpoint (`<region>.digitaloceanspaces.com`: the region slug comes first), the
jobs export that region as AWS_REGION; any other S3 URL without a region is refused with
the fix, before Pulumi runs.
"""

from collections.abc import Mapping
from urllib.parse import parse_qs, urlsplit

BACKEND_VARIABLE = "PULUMI_BACKEND_URL"
REGION_VARIABLES = ("AWS_REGION", "AWS_DEFAULT_REGION")
SPACES_DOMAIN = ".digitaloceanspaces.com"


class MissingRegionError(ValueError):
    """An S3 backend URL whose region nobody gives."""


def _spaces_region(endpoint: str) -> str | None:
    host = urlsplit(endpoint if "://" in endpoint else f"https://{endpoint}").hostname or ""
    if not host.endswith(SPACES_DOMAIN):
        return None
    slug = host.removesuffix(SPACES_DOMAIN).rsplit(".", 1)[-1]
    return slug or None


def region_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """Variables to add to Pulumi's environment: {} or {"AWS_REGION": slug}.

    Raise MissingRegionError for an S3 backend URL without any region."""
    url = environ.get(BACKEND_VARIABLE, "")
    if not url.startswith("s3://"):
        return {}
    query = parse_qs(urlsplit(url).query)
    if query.get("region") or any(environ.get(name) for name in REGION_VARIABLES):
        return {}
    region = _spaces_region(query.get("endpoint", [""])[0])
    if region:
        return {"AWS_REGION": region}
    raise MissingRegionError(
        f"{BACKEND_VARIABLE} is an S3 URL without a region, so every Pulumi call would fail "
        "with MissingRegion: add `&region=<region>` to the URL (for Spaces the endpoint's "
        "slug, e.g. fra1) or set AWS_REGION (docs/gitlab.md)"
    )
