"""The whole app on one machine, on 127.0.0.1: `./run`, and a `LocalStack` for tests and bench."""

from localrun.stack import LocalStack

__all__ = ["LocalStack"]
