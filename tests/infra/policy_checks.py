"""Running a policy rule of infra/policy against a mocked run of the program, as the policy
engine would hand it the resources: shared by the tests of the policy pack and of the
resources it guards."""

from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    StackValidationArgs,
)

from infra.offline import OfflineRun, PlannedResource


def _options(resource: PlannedResource) -> PolicyResourceOptions:
    return PolicyResourceOptions(
        protect=resource.protect,
        ignore_changes=list(resource.ignore_changes),
        delete_before_replace=resource.delete_before_replace,
        aliases=[],
        custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
        additional_secret_outputs=[],
        parent=resource.parent,
    )


def validation_args(resource: PlannedResource, props: dict | None = None) -> ResourceValidationArgs:
    """What the policy engine hands a rule, built from a mocked registration.

    Policies see secret inputs in plain (user data included): pass the provider's view.
    """
    return ResourceValidationArgs(
        resource.type,
        props or resource.inputs,
        resource.urn,
        resource.name,
        _options(resource),
        None,
    )


def violations(rule, resource: PlannedResource, props: dict | None = None) -> list[str]:
    found: list[str] = []
    rule(validation_args(resource, props), lambda message, urn=None: found.append(message))
    return found


def stack_args(run: OfflineRun) -> StackValidationArgs:
    """The whole stack as a stack policy sees it, property dependencies resolved."""
    by_urn: dict[str, PolicyResource] = {}
    for item in run.resources:
        by_urn[item.urn] = PolicyResource(
            item.type, item.inputs, item.urn, item.name, _options(item), None, None, [], {}
        )
    for item in run.resources:
        by_urn[item.urn].property_dependencies = {
            key: [by_urn[urn] for urn in urns if urn in by_urn]
            for key, urns in item.property_dependencies.items()
        }
    return StackValidationArgs(list(by_urn.values()))


def stack_violations(rule, run: OfflineRun) -> list[str]:
    found: list[str] = []
    rule(stack_args(run), lambda message, urn=None: found.append(message))
    return found
