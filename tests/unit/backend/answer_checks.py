"""What every answer to any input must be: below 500, and a JSON error body when refused."""


def assert_client_error_or_success(status: int, body: dict) -> None:
    assert status < 500, body
    if status >= 400:
        assert set(body["error"]) == {"code", "message"}
