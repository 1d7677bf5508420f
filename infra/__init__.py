"""The Pulumi program for canny-platform: typed config, components, cloud-init, deploy, plan."""
