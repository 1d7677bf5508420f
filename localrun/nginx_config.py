"""Render the gateway template the way the container's envsubst does, but strictly.

envsubst silently turns an unset variable into an empty string, which nginx may then
accept with a different meaning; here a placeholder without a value is an error.
"""

import ipaddress
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_PATH = REPO_ROOT / "app" / "gateway" / "nginx.conf.template"

PLACEHOLDER = re.compile(r"\$\{(CANNY_[A-Z0-9_]+)\}")


class MissingPlaceholderError(ValueError):
    """The template names placeholders that were given no value."""


def placeholders(template: str) -> set[str]:
    return set(PLACEHOLDER.findall(template))


def render(template: str, values: Mapping[str, str]) -> str:
    missing = placeholders(template) - values.keys()
    if missing:
        raise MissingPlaceholderError(
            f"no value for gateway template placeholder(s): {', '.join(sorted(missing))}"
        )
    return PLACEHOLDER.sub(lambda match: values[match.group(1)], template)


def render_template_file(values: Mapping[str, str], template_path: Path = TEMPLATE_PATH) -> str:
    return render(template_path.read_text(encoding="utf-8"), values)


def trusted_proxy_directives(addresses: Iterable[str]) -> str:
    """CANNY_TRUSTED_PROXIES as the template takes it: one `set_real_ip_from` per address or
    CIDR, nothing for none (trust nobody). Each must parse as an address, so no value can
    smuggle other directives into the config."""
    networks = (ipaddress.ip_network(address, strict=False) for address in addresses)
    return " ".join(f"set_real_ip_from {network};" for network in networks)
