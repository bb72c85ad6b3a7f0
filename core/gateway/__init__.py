"""The gateway: Anthropic-compatible /v1 routes and Tollgate's /api routes over the guarded client.

``core.gateway.app.routes`` is what server.py mounts on the console's port and what
``python -m core serve`` runs headless; each request is authenticated (a Tollgate key or a JWT),
then sent through ``GuardedClient`` charged to the caller's user with source "gateway".
"""
