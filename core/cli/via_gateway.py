"""``ask``, ``usage`` and ``budget show`` through a running gateway (TOLLGATE_GATEWAY_URL + TOLLGATE_GATEWAY_KEY).

The console holds a DuckDB ledger for itself; pointed at its gateway, the CLI asks it instead of
opening the file. The key is sent as ``x-api-key`` and never printed; calls are charged to the
key's user (``--user`` must name that user, so a script cannot believe it charged someone else).
"""

from __future__ import annotations

import json
import sys

from core.errors import TollgateError, ValidationError


def wanted(args, settings) -> bool:
    """True when this command should go through the gateway (both settings set; ``budget`` only for ``show``)."""
    if not (settings.gateway_url and settings.gateway_key):
        return False
    return args.cmd in ("ask", "usage") or (args.cmd == "budget" and args.action == "show")


def _key(settings) -> str:
    from core.config import reveal

    return reveal(settings.gateway_key)


def _fail(status: int | None, etype: str, message: str, as_json: bool) -> int:
    if as_json:
        print(json.dumps({"error": {"code": etype, "message": message, "status": status}}))
    else:
        print(f"error [{etype}]: {message}", file=sys.stderr)
    return 2


def _usage(settings) -> dict:
    """GET /api/usage for the key's user (raises TollgateError with the gateway's message)."""
    import httpx2

    url = settings.gateway_url.rstrip("/") + "/api/usage"
    try:
        r = httpx2.get(url, headers={"x-api-key": _key(settings)}, timeout=settings.timeout_s)
    except httpx2.HTTPError as exc:
        raise TollgateError(f"Cannot reach the gateway at {settings.gateway_url} ({type(exc).__name__}).") from None
    body = r.json() if r.headers.get("content-type", "").startswith("application/json") else {}
    if r.status_code != 200:
        raise TollgateError(((body.get("error") or {}).get("message")) or f"The gateway answered {r.status_code}.")
    return body


def ask(args, settings) -> int:
    import anthropic

    client = anthropic.Anthropic(base_url=settings.gateway_url, api_key=_key(settings), max_retries=2,
                                 timeout=settings.timeout_s)
    kw = dict(model=args.model or settings.default_model, max_tokens=args.max_tokens or settings.default_max_tokens,
              messages=[{"role": "user", "content": args.prompt}])
    if args.system:
        kw["system"] = args.system
    extra = {"temperature": args.temperature} if args.temperature is not None else None
    headers = {"x-tollgate-cache": "off"} if args.no_cache else None
    try:
        me = _usage(settings)["user"]
        if args.user.strip() != me:
            raise ValidationError(f"--user {args.user!r}: TOLLGATE_GATEWAY_KEY belongs to {me!r}, and calls "
                                  "through the gateway are charged to the key's user.", field="user")
        cost = cached = None
        if args.stream:
            with client.messages.stream(**kw, extra_body=extra, extra_headers=headers) as s:
                for text in s.text_stream:
                    if not args.json:
                        print(text, end="", flush=True)
                msg = s.get_final_message()
                request_id = s.response.headers.get("request-id")
            if not args.json:
                print()
        else:
            raw = client.messages.with_raw_response.create(**kw, extra_body=extra, extra_headers=headers)
            msg, request_id = raw.parse(), raw.headers.get("request-id")
            cost, cached = raw.headers.get("x-tollgate-cost-usd"), raw.headers.get("x-tollgate-cached") == "true"
        after = _usage(settings)
    except anthropic.APIStatusError as err:
        body = err.body if isinstance(err.body, dict) else {}
        inner = body.get("error") or {}
        return _fail(err.status_code, inner.get("type", "error"), inner.get("message") or err.message, args.json)
    except anthropic.APIConnectionError:
        return _fail(None, "connection_error", f"Cannot reach the gateway at {settings.gateway_url}.", args.json)
    except TollgateError as err:
        return _fail(None, err.code, err.message, args.json)
    text = "".join(b.text for b in msg.content if b.type == "text")
    out = {"text": text, "content": [b.to_dict() for b in msg.content], "model": msg.model,
           "usage": msg.usage.to_dict(), "stop_reason": msg.stop_reason, "message_id": msg.id,
           "request_id": request_id, "cost_usd": cost, "cached": cached, "via": settings.gateway_url,
           "month_to_date_usd": after["month_to_date_usd"], "budget_remaining_usd": after["remaining_usd"]}
    if args.json:
        print(json.dumps(out, ensure_ascii=False, default=str))
        return 0
    if not args.stream:
        print(text)
    price = f"${cost}" if cost and cost != "unpriced" else (cost or "cost in the ledger")
    print(f"\n— {msg.model} via {settings.gateway_url}: {msg.usage.input_tokens} in / {msg.usage.output_tokens} out, "
          f"{price}{' (cached)' if cached else ''}; ${after['month_to_date_usd']} this month", file=sys.stderr)
    return 0


def usage(args, settings) -> int:
    """The key's user's month: the gateway reports that only (the full report needs the ledger)."""
    body = _usage(settings)
    if getattr(args, "json", False):
        print(json.dumps([body]))
    else:
        print(f"{body['user']}, {body['month']}: ${body['month_to_date_usd']} spent"
              f"{', $' + body['reserved_usd'] + ' held' if body.get('reserved_usd') not in (None, '0') else ''}"
              f" (through {settings.gateway_url}: only this key's user and month; run without "
              "TOLLGATE_GATEWAY_URL on the server for the full report)")
    return 0


def budget_show(args, settings) -> int:
    body = _usage(settings)
    row = {"user_id": body["user"], "budget_usd": body["budget_usd"], "spent_usd": body["month_to_date_usd"],
           "reserved_usd": body["reserved_usd"], "remaining_usd": body["remaining_usd"]}
    if args.json:
        print(json.dumps([row] if body["budget_usd"] is not None else []))
    elif body["budget_usd"] is None:
        print(f"No budget set for {body['user']} (${body['month_to_date_usd']} spent this month).")
    else:
        print(f"{row['user_id']}: budget ${row['budget_usd']}, spent ${row['spent_usd']}, "
              f"left ${row['remaining_usd']} this month.")
    return 0


def instead(args):
    """The gateway form of ``args.cmd`` (a one-argument handler) when it should go through one, else None."""
    if args.cmd not in ("ask", "usage", "budget"):
        return None
    from core.config import load_settings

    settings = load_settings(load_keys=False)
    if not wanted(args, settings):
        return None
    run = {"ask": ask, "usage": usage, "budget": budget_show}[args.cmd]
    return lambda a: run(a, settings)
