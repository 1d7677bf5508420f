"""The lines of a preview that a person reads before playing deploy_prod.

`pulumi preview --json` prints a PreviewDigest whose `steps` each carry `op`, `urn`,
`diffReasons`, `replaceReasons` and `detailedDiff` (pulumi/pulumi pkg/backend/display/
json.go, previewStep). One line per step that changes something: what happens to which
resource, and which properties differ. Property NAMES only, never values: a value may be a
secret (a registry password, the SSH key), and a name says enough to decide whether to go
on; the values are in the preview artifact, where Pulumi itself masks secrets as
"[secret]" unless --show-secrets is given (https://www.pulumi.com/docs/iac/cli/commands/
pulumi_preview/).
"""

import json
from collections.abc import Mapping

UNCHANGED_OPS = frozenset({"same", "read", "refresh"})


def _resource(urn: str) -> str:
    """`type name` from `urn:pulumi:stack::project::parent$type::name`."""
    parts = urn.split("::")
    if len(parts) < 4:
        return urn
    return f"{parts[-2].rsplit('$', 1)[-1]} {parts[-1]}"


def _properties(step: Mapping[str, object]) -> list[str]:
    names: list[str] = []
    for key in ("replaceReasons", "diffReasons"):
        names += [str(name) for name in step.get(key) or [] if str(name) not in names]
    detailed = step.get("detailedDiff")
    if isinstance(detailed, Mapping):
        names += [str(name) for name in detailed if str(name) not in names]
    return names


def diff_lines(preview_json: str) -> list[str]:
    """`op type name (property, ...)` for each step that is not a no-op."""
    lines = []
    for step in json.loads(preview_json).get("steps") or []:
        op = step.get("op", "?")
        if op in UNCHANGED_OPS:
            continue
        properties = _properties(step)
        suffix = f" ({', '.join(properties)})" if properties else ""
        lines.append(f"{op} {_resource(str(step.get('urn', '?')))}{suffix}")
    return lines
