"""The rollback that follows a failed prod smoke test runs against the same real sshd and
host stand-ins as the remote deploy scripts' own tests (tests/integration/remote)."""

from tests.integration.remote.conftest import gateway_url, remote_host, sshd_host_key

__all__ = ["gateway_url", "remote_host", "sshd_host_key"]
