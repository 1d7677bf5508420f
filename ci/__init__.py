"""Scripts the GitLab jobs call; each is also runnable by hand with `python -m ci.<name>`."""
