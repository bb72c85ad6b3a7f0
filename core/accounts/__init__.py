"""Accounts: users, roles and password hashing, login sessions, lockout and admin-only operations (no Streamlit)."""
