"""``user``: the console's accounts (add, list, remove, passwd, role), as the local admin."""

from __future__ import annotations

import sys

from core.errors import TollgateError

ROLES = ["admin", "analyst"]


def add_parser(sub) -> None:
    us = sub.add_parser("user", help="console accounts: add, list, remove, passwd, role")
    us.set_defaults(handler=cmd_user)
    usub = us.add_subparsers(dest="action", required=True)
    ua = usub.add_parser("add", help="add an account (password read from stdin or asked for)")
    ua.add_argument("username")
    ua.add_argument("--name", default="")
    ua.add_argument("--role", choices=ROLES, default="analyst")
    usub.add_parser("list")
    urm = usub.add_parser("remove")
    urm.add_argument("username")
    upw = usub.add_parser("passwd", help="set a new password (read from stdin or asked for)")
    upw.add_argument("username")
    uro = usub.add_parser("role")
    uro.add_argument("username")
    uro.add_argument("role", choices=ROLES)


def _password() -> str:
    """A password from a terminal prompt (never echoed), or the first line of stdin when piped."""
    if sys.stdin.isatty():
        import getpass

        first = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != first:
            raise TollgateError("The two passwords differ.")
        return first
    return sys.stdin.readline().rstrip("\n")


def cmd_user(args) -> int:
    from core.accounts import admin
    from core.accounts.users import LOCAL_ADMIN, UserStore
    from core.config import load_settings

    store = UserStore(load_settings().users_file)
    if args.action == "list":
        for u in store.users():
            print(f"{u['username']:24} {u['role']:8} {u['name']}{'  (demo account)' if u['demo'] else ''}")
    elif args.action == "add":
        who = admin.add_user(store, LOCAL_ADMIN, args.username, args.name, args.role, _password())
        print(f"Added {who.username} ({who.role}) to {store.path}.")
    elif args.action == "remove":
        found = admin.remove_user(store, LOCAL_ADMIN, args.username)
        print(f"Removed {args.username}." if found else f"No user {args.username!r}.")
    elif args.action == "passwd":
        admin.change_user(store, LOCAL_ADMIN, args.username, password=_password())
        print(f"New password set for {args.username}.")
    else:
        admin.change_user(store, LOCAL_ADMIN, args.username, role=args.role)
        print(f"{args.username} is now {args.role}.")
    return 0
