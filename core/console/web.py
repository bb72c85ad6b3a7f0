"""What server.py adds around the console for browsers: the login-cookie routes and security headers.

``session_routes(settings_fn)`` trades a login ticket for the HttpOnly cookie and clears it
on log-out (see ``core.accounts.sessions``). ``SecurityHeaders`` is a pure ASGI middleware that puts
anti-framing, no-sniff and referrer headers on every HTTP response, Streamlit's own included.
"""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from core.accounts import sessions
from core.accounts import users as auth

SECURITY_HEADERS = {
    "content-security-policy": "frame-ancestors 'none'",
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}


class SecurityHeaders:
    """ASGI middleware: every HTTP response carries ``SECURITY_HEADERS`` (set, never duplicated)."""

    def __init__(self, app) -> None:
        self.app = app
        self._raw = [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message) -> None:
            if message["type"] == "http.response.start":
                names = {k for k, _ in self._raw}
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() not in names]
                message = {**message, "headers": headers + self._raw}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _secure(request: Request) -> bool:
    return request.url.scheme == "https" or request.headers.get("x-forwarded-proto", "") == "https"


def _same_origin(request: Request) -> bool:
    """A custom header (no cross-site form can send one) and, when the browser says, our own origin."""
    if request.headers.get(sessions.CSRF_HEADER) != "1":
        return False
    origin = request.headers.get("origin")
    return origin is None or origin.split("://", 1)[-1] == request.headers.get("host", "")


def session_routes(settings_fn, *, now=time.time) -> list[Route]:
    """POST /_tollgate/session (a ticket in the body -> the login cookie) and POST /_tollgate/logout."""

    async def open_session(request: Request) -> Response:
        if not _same_origin(request):
            return JSONResponse({"error": "cross-site request refused"}, status_code=403)
        settings = settings_fn()
        try:
            key = auth.cookie_key(settings)
        except auth.RefuseToStart:
            return JSONResponse({"error": "login is not configured"}, status_code=503)
        body = (await request.body())[:4096].decode("ascii", errors="replace").strip()
        t = now()
        claims = sessions.read_ticket(body, key, now=t)
        store = auth.UserStore(settings.users_file)
        if sessions.principal_for(store, claims) is None:
            return JSONResponse({"error": "invalid or expired ticket"}, status_code=401)
        days = settings.cookie_expiry_days
        resp = JSONResponse({"ok": True})
        resp.set_cookie(sessions.COOKIE, sessions.issue(claims.username, claims.version, key, now=t, days=days),
                        max_age=int(days * 86400), path="/", secure=_secure(request), httponly=True,
                        samesite="strict")
        return resp

    async def close_session(request: Request) -> Response:
        if not _same_origin(request):
            return JSONResponse({"error": "cross-site request refused"}, status_code=403)
        resp = JSONResponse({"ok": True})
        resp.delete_cookie(sessions.COOKIE, path="/", secure=_secure(request), httponly=True, samesite="strict")
        return resp

    return [Route(sessions.SESSION_PATH, open_session, methods=["POST"]),
            Route(sessions.LOGOUT_PATH, close_session, methods=["POST"])]
