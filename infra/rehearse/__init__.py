"""The deploy rehearsal: `python -m infra.rehearse --stack prod|test|test-<slug>`.

Everything `pulumi up` does on a droplet runs for real on this machine: local droplets
(network namespaces with their own dockerd and sshd), the program under Pulumi's runtime with
mocks that stand in for the cloud API and run every remote step over SSH.
"""
