"""a job's disk limit, and why a consumer takes no new job

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 19:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('disk_limit', sa.Integer(), nullable=True))

    with op.batch_alter_table('consumers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('paused', sa.String(length=500), nullable=False, server_default=''))


def downgrade() -> None:
    with op.batch_alter_table('consumers', schema=None) as batch_op:
        batch_op.drop_column('paused')

    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_column('disk_limit')
