"""Health: one probe per collaborator, the report built from them, figures read back, and /readyz."""
