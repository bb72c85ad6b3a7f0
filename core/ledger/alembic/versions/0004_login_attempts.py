"""Schema version 4: the console's shared login lock-out (``login_attempts``), the first Alembic revision.

Idempotent (``if_not_exists``): a ledger that reached version 4 through the hand-written step of
older releases already has the table and index but no ``alembic_version``, and Alembic runs this
revision on it again on its way to the head.
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = None  # the first Alembic revision: versions 1-3 are migrations.STEPS
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The columns are spelled out, not taken from schema.py: a revision is frozen as it shipped.
    op.create_table(
        "login_attempts",
        sa.Column("id", sa.String(36), primary_key=True),  # uuid4 text
        sa.Column("username", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),  # 'attempt' or 'lock'
        sa.Column("at_s", sa.Double, nullable=False),  # epoch seconds
        sa.Column("stamp", sa.String(64)),
        if_not_exists=True,
    )
    op.create_index("ix_login_attempts_user", "login_attempts", ["username", "kind"], if_not_exists=True)


def downgrade() -> None:
    op.drop_index("ix_login_attempts_user", table_name="login_attempts", if_exists=True)
    op.drop_table("login_attempts", if_exists=True)
