"""Cluster runs of the service's capabilities (Ray Data): a layer above evaluation and below the
front ends, because the service may not import ray (import-linter contract)."""
