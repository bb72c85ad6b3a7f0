"""Deployment files: the nginx config of compose.yaml and the same topology from processes (topology.py)."""
