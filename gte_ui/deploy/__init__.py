"""Deployments of the service beside :mod:`gte_ui.server` (not front ends): Ray Serve replicas."""
