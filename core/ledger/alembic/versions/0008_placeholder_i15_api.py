"""PLACEHOLDER for h4's revision 0008 (calls.run_id, ...) until branch i15-api is merged: deleted then."""

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
