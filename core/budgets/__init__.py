"""Budgets: the book (limits per scope), the gate that reserves a call's worst case, and spend alerts."""
