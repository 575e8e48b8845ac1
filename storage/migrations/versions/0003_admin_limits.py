"""fair-use limits per user, held outbox entries, expired jobs, environment cache outcome

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 09:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

import storage.models

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('max_queued', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('max_running', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('output_quota_bytes', sa.BigInteger(), nullable=True))

    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('environment', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('expired_at', storage.models.UTCDateTime(), nullable=True))

    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('held', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.create_index(batch_op.f('ix_outbox_held'), ['held'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outbox_held'))
        batch_op.drop_column('held')

    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_column('expired_at')
        batch_op.drop_column('environment')

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('output_quota_bytes')
        batch_op.drop_column('max_running')
        batch_op.drop_column('max_queued')
