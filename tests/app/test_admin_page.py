"""Users & budgets: the Change-an-account form starts from the account's current values and changes only edits."""

from __future__ import annotations

from core.accounts.users import UserStore, check_password
from pages import widgets
from tests.app.conftest import PASSWORD


def _store() -> UserStore:
    return UserStore(widgets.settings().users_file)


def _hash(user: str) -> str:
    return _store().credentials()["usernames"][user]["password"]


def _change_form(at):
    """The Account picker, Role box, New password field and Save button of 'Change an account'."""
    account = next(s for s in at.selectbox if s.label == "Account")
    role = [s for s in at.selectbox if s.label == "Role"][-1]  # the first is Add an account's
    password = next(t for t in at.text_input if t.label.startswith("New password"))
    save = next(b for b in at.button if b.label == "Save")
    return account, role, password, save


def test_saving_only_a_new_password_keeps_an_analyst_an_analyst(console):
    at = console("pages/admin.py", user="alice")
    account, *_ = _change_form(at)
    account.set_value("bob").run()
    assert not at.exception, at.exception
    _, role, password, save = _change_form(at)
    password.input("bobs-brand-new-password")
    save.click().run()
    assert not at.exception, at.exception
    assert _store().principal("bob").role == "analyst"  # was promoted to admin
    assert [t.value for t in at.toast] == ["Updated bob: password."]
    assert check_password("bobs-brand-new-password", _hash("bob"))
    _, role, password, _ = _change_form(at)
    assert password.value == "" and role.value == "analyst"  # the password field clears after saving


def test_the_form_follows_the_account_picked_and_a_role_change_keeps_the_password(console):
    at = console("pages/admin.py", user="alice")
    account, role, _, _ = _change_form(at)
    assert account.value == "alice" and role.value == "admin"
    account.set_value("carol").run()
    _, role, _, save = _change_form(at)
    assert role.value == "analyst"
    before = _hash("carol")
    role.set_value("admin")
    save.click().run()
    assert not at.exception, at.exception
    assert _store().principal("carol").role == "admin"
    assert _hash("carol") == before and check_password(PASSWORD, before)
    _, role, _, _ = _change_form(at)
    assert role.value == "admin"


def test_saving_an_untouched_form_changes_nothing(console):
    at = console("pages/admin.py", user="alice")
    before = _store().credentials()
    account, _, _, save = _change_form(at)
    account.set_value("bob")
    save.click().run()
    assert not at.exception, at.exception
    assert _store().credentials() == before


def test_an_admin_creates_a_key_sees_it_once_and_revokes_it(console):
    at = console("pages/admin.py", user="alice")
    next(s for s in at.selectbox if s.label == "For user").set_value("bob")
    next(t for t in at.text_input if t.label.startswith("Name (what")).input("bob's script")
    next(b for b in at.button if b.label == "Create").click().run()
    assert not at.exception, at.exception
    (shown,) = [c.value for c in at.code]
    assert shown.startswith("sk-tg-")
    keys = widgets.door().keys(widgets.door().accounts.principal("alice"))
    assert [(k["user"], k["status"], k["key"]) for k in keys] == [("bob", "active", "sk-tg-…" + shown[-4:])]
    at.run()  # the next run: the key is not shown again
    assert not [c.value for c in at.code]
    next(t for t in at.text_input if t.label.startswith("Key id")).input(keys[0]["id"])
    next(b for b in at.button if b.label == "Revoke").click().run()
    assert not at.exception, at.exception
    assert widgets.door().keys(widgets.door().accounts.principal("alice"))[0]["status"] == "revoked"
