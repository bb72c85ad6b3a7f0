"""The probe routes served beside the console: /metrics, /healthz and /readyz (Starlette).

``routes(settings)`` is what ``server.py`` hands to ``st.App(routes=…)``, so one port
serves the console and its probes. Handlers are plain functions: Starlette runs them in
its thread pool, so a slow ledger probe never blocks the event loop.
"""

from __future__ import annotations

import hmac

from prometheus_client import REGISTRY
from prometheus_client.exposition import choose_encoder
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from core.config_model import reveal  # its home: core.config would tie the probes to the whole config
from core.health import readiness
from core.observability import prom


def routes(settings=None) -> list[Route]:
    """/metrics (Prometheus text or OpenMetrics; a bearer token when TOLLGATE_METRICS_TOKEN is set),
    /healthz (alive) and /readyz (ready, else 503 + reasons without hosts or ports)."""
    prom.install_collector()

    token = reveal(getattr(settings, "metrics_token", None))

    def metrics(request: Request) -> Response:
        if token:  # spend and tokens by model are not for anonymous eyes
            given = request.headers.get("authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
                return JSONResponse({"error": "metrics need Authorization: Bearer <TOLLGATE_METRICS_TOKEN>"},
                                    status_code=401, headers={"WWW-Authenticate": "Bearer"})
        encoder, content_type = choose_encoder(request.headers.get("accept", ""))
        return Response(encoder(REGISTRY), media_type=content_type)

    def healthz(request: Request) -> Response:
        return JSONResponse({"status": "alive"})

    def readyz(request: Request) -> Response:
        state = readiness.check(settings)
        return JSONResponse(state.to_dict(), status_code=200 if state.ready else 503)

    return [Route("/metrics", metrics, methods=["GET"]), Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"])]
