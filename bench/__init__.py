"""`python -m bench`: the service through its gateway against a naive peer and raw OpenCV
(alone, and with the service's storage) on the same machine."""
