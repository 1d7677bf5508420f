"""Policy pack enforcing canny-platform invariants; see PulumiPolicy.yaml."""
