"""`python -m bench`: the service through its gateway against raw OpenCV on the same machine."""
