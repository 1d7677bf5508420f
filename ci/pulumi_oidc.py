"""Prod's Pulumi Cloud token from the job's GitLab ID token, so no long-lived prod token is
stored in GitLab (docs/security.md, "Pulumi ESC with GitLab OIDC").

`preview_prod` and `deploy_prod` request an ID token (`id_tokens: PULUMI_OIDC_TOKEN`);
this exchanges it at Pulumi Cloud's token endpoint, which grants a token only when an
authorization policy of the organization's GitLab issuer allows the token's claims (ref
`production`, `ref_protected` true). The request is the documented token exchange
(https://www.pulumi.com/docs/pulumi-cloud/access-management/oidc-client/, "Exchanging OIDC
tokens"; pulumi/docs content/docs/pulumi-cloud/access-management/oidc-client/_index.md):
a form POST to /api/oauth/token answered with JSON holding `access_token`.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping

ID_TOKEN_VARIABLE = "PULUMI_OIDC_TOKEN"  # noqa: S105 (a variable name, not a secret)
ORG_VARIABLE = "PULUMI_OIDC_ORG"
TEAM_VARIABLE = "PULUMI_OIDC_TEAM"
STATIC_TOKEN_VARIABLE = "PULUMI_ACCESS_TOKEN_PROD"  # noqa: S105 (a variable name)
# A self-hosted Pulumi Cloud is named by the backend URL; otherwise Pulumi's own.
BACKEND_VARIABLE = "PULUMI_BACKEND_URL_PROD"
DEFAULT_API = "https://api.pulumi.com"
EXCHANGE_PATH = "/api/oauth/token"
# Long enough for a release with its rollback (ci/prod_release.py), no longer.
TOKEN_LIFETIME_SECONDS = 3600
TOKEN_TYPE_PREFIX = "urn:pulumi:token-type:access_token:"  # noqa: S105 (a URN, not a secret)


class ExchangeError(RuntimeError):
    """Pulumi Cloud did not grant a token; the message never holds either token."""


def wanted(environ: Mapping[str, str]) -> bool:
    """Exchange when the job has an ID token and an organization, and no static prod token."""
    return bool(
        environ.get(ID_TOKEN_VARIABLE)
        and environ.get(ORG_VARIABLE)
        and not environ.get(STATIC_TOKEN_VARIABLE)
    )


def exchange_form(id_token: str, org: str, team: str | None) -> dict[str, str]:
    """The token exchange's parameters: a team token for `team`, else an organization one."""
    form = {
        "audience": f"urn:pulumi:org:{org}",
        "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
        "subject_token_type": "urn:ietf:params:oauth:token-type:id_token",
        "requested_token_type": TOKEN_TYPE_PREFIX + ("team" if team else "organization"),
        "expiration": str(TOKEN_LIFETIME_SECONDS),
        "subject_token": id_token,
    }
    if team:
        form["scope"] = f"team:{team}"
    return form


def api_url(environ: Mapping[str, str]) -> str:
    backend = environ.get(BACKEND_VARIABLE, "")
    return backend.rstrip("/") if backend.startswith(("https://", "http://")) else DEFAULT_API


def exchange(environ: Mapping[str, str], timeout: float = 30.0) -> str:
    """A short-lived Pulumi access token for the job's ID token, or ExchangeError."""
    form = exchange_form(
        environ[ID_TOKEN_VARIABLE], environ[ORG_VARIABLE], environ.get(TEAM_VARIABLE) or None
    )
    url = api_url(environ) + EXCHANGE_PATH
    # api_url() only ever yields an http(s) URL.
    request = urllib.request.Request(  # noqa: S310
        url,
        data=urllib.parse.urlencode(form).encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            answer = json.loads(response.read())
    except urllib.error.HTTPError as error:
        error.close()
        raise ExchangeError(
            f"{url} refused the GitLab ID token (HTTP {error.code}): check the issuer's "
            "authorization policy (docs/security.md)"
        ) from None
    except (urllib.error.URLError, TimeoutError, json.JSONDecodeError) as error:
        raise ExchangeError(f"no token from {url}: {type(error).__name__}") from None
    token = answer.get("access_token") if isinstance(answer, dict) else None
    if not isinstance(token, str) or not token:
        raise ExchangeError(f"{url} answered without an access_token")
    return token
