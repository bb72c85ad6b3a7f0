"""``python -m core key create|list|revoke``: Tollgate keys for the gateway, printed once, then only masked."""

from __future__ import annotations

import json
import sys

from core.errors import ValidationError


def add_parser(sub) -> None:
    """The ``key`` command and its actions."""
    from core.cli.support import bounded_int

    k = sub.add_parser("key", help="gateway keys: create (printed once), list, revoke")
    ksub = k.add_subparsers(dest="action", required=True)
    kc = ksub.add_parser("create", help="a new key for a user (printed once, stored as a hash)")
    kc.add_argument("--user", required=True)
    kc.add_argument("--name", default=None)
    kc.add_argument("--expires-days", type=bounded_int(1, 3660, "--expires-days"), default=None)
    kc.add_argument("--models", default=None, help="comma-separated models the key may use (default: all)")
    kc.add_argument("--json", action="store_true")
    kl = ksub.add_parser("list")
    kl.add_argument("--json", action="store_true")
    kr = ksub.add_parser("revoke")
    kr.add_argument("id", help="the key's id (from key list)")
    k.set_defaults(handler=cmd_key)


def cmd_key(args) -> int:
    from core.cli import support

    with support.stores() as (settings, _, _, engine):
        return run(args, engine, settings)


def models_of(raw: str | None, catalogue) -> tuple[str, ...]:
    """``--models`` as canonical ids; an unknown one is refused with the known list."""
    if raw is None:
        return ()
    out = []
    for name in (p.strip() for p in raw.split(",")):
        if not name:
            continue
        if catalogue.get(name) is None:
            raise ValidationError(f"--models: unknown model {name!r}. Known: {', '.join(catalogue.known())}.",
                                  field="models")
        out.append(catalogue.resolve(name))
    if not out:
        raise ValidationError("--models needs at least one model (leave it out for every model).", field="models")
    return tuple(out)


def run(args, engine, settings) -> int:
    """Carry out ``key <action>`` against the ledger database behind ``engine``."""
    from core.accounts import admin
    from core.accounts.keys import KeyStore
    from core.accounts.users import LOCAL_ADMIN

    store = KeyStore(engine)
    if args.action == "create":
        from core.catalog.models import load_catalogue

        models = models_of(args.models, load_catalogue(tiers=settings.tiers))
        info, key = admin.create_key(store, LOCAL_ADMIN, args.user, name=args.name,
                                     expires_days=args.expires_days, models=models)
        expires = None if info.expires_at is None else info.expires_at.isoformat() + "Z"
        if args.json:
            print(json.dumps({"id": info.id, "key": key, "user": info.user, "expires": expires}))
        else:
            print(key)
            print(f"Key {info.id} for {info.user}{f' ({info.name})' if info.name else ''}, "
                  f"{'expires ' + expires if expires else 'no expiry'}"
                  f"{', models ' + ','.join(info.models) if info.models else ''}. "
                  "It is shown only now: store it safely.")
        return 0
    if args.action == "list":
        rows = admin.list_keys(store, LOCAL_ADMIN)
        if args.json:
            print(json.dumps(rows, default=_plain, ensure_ascii=False))
        elif not rows:
            print("No keys.")
        else:
            for r in rows:
                print(f"{r['id']}  {r['key']:14} {r['user']:20} {r['status']:8} models={r['models']} "
                      f"calls={r['calls']} spent=${_plain(r['spent_usd'])} last_used={_plain(r['last_used'])}")
        return 0
    if admin.revoke_key(store, LOCAL_ADMIN, args.id):
        print(f"Key {args.id} revoked.")
        return 0
    print(f"error: no active key {args.id!r} (see `key list`).", file=sys.stderr)
    return 2


def _plain(v):
    from decimal import Decimal

    if isinstance(v, Decimal):
        return format(v.normalize() if v else Decimal(0), "f")
    if v is None:
        return "never"
    return v.isoformat() if hasattr(v, "isoformat") else str(v)
