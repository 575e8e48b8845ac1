"""jobs' name (the project's by default), notes and tags

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 01:20:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('name', sa.String(length=200), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('notes', sa.Text(), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('tags', sa.JSON(), nullable=False, server_default='[]'))
        batch_op.create_index(batch_op.f('ix_jobs_name'), ['name'], unique=False)
    op.execute("UPDATE jobs SET name = project")


def downgrade() -> None:
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_jobs_name'))
        batch_op.drop_column('tags')
        batch_op.drop_column('notes')
        batch_op.drop_column('name')
