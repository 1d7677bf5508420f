"""The owner-key secret every backend in a test session signs with, and keys under it.

tests/conftest.py puts the secret in the environment for the whole session, so apps built
in process, and the gunicorn backends localrun starts (an environment value wins over the
run folder's own secret, localrun/owner_key_secret.py), all verify keys made here.
"""

from canny.owner_keys import OwnerKeys

# A stand-in, not a secret: no deployment ever uses it.
TEST_OWNER_KEY_SECRET = "test-owner-key-secret-not-for-any-deployment"
TEST_OWNER_KEYS = OwnerKeys((TEST_OWNER_KEY_SECRET,))


def issued_test_key() -> str:
    """A new owner key, as the test session's backends would issue it."""
    return TEST_OWNER_KEYS.new_owner().key
