"""job change numbers for live streams' ids and resume, stream leases for the per-user cap

Revision ID: 0005
Revises: 0003
Create Date: 2026-12-02 19:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

import storage.models

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('change_seq', sa.BigInteger(), nullable=False, server_default='0'))
        batch_op.create_index(batch_op.f('ix_jobs_change_seq'), ['change_seq'], unique=False)

    counter = op.create_table(
        'change_counter',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('value', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.bulk_insert(counter, [{'id': 1, 'value': 0}])

    op.create_table(
        'stream_leases',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('holder', sa.String(length=255), nullable=False),
        sa.Column('expires_at', storage.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('stream_leases', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_stream_leases_user_id'), ['user_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_stream_leases_holder'), ['holder'], unique=False)
        batch_op.create_index(batch_op.f('ix_stream_leases_expires_at'), ['expires_at'], unique=False)


def downgrade() -> None:
    op.drop_table('stream_leases')
    op.drop_table('change_counter')
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_jobs_change_seq'))
        batch_op.drop_column('change_seq')
