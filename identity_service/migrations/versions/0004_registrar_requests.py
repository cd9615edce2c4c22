"""registrar requests: one recorded answer per (registrar client, request_id)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('registrar_requests',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('registrar_client_id', sa.String(length=100), nullable=False),
    sa.Column('request_id', sa.String(length=64), nullable=False),
    sa.Column('action', sa.String(length=10), nullable=False),
    sa.Column('body_sha256', sa.String(length=64), nullable=False),
    sa.Column('account_id', sa.String(length=32), nullable=False),
    sa.Column('response_status', sa.Integer(), nullable=False),
    sa.Column('response_body', sa.JSON(), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('registrar_client_id', 'request_id')
    )
    with op.batch_alter_table('registrar_requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_registrar_requests_account_id'), ['account_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('registrar_requests', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_registrar_requests_account_id'))
    op.drop_table('registrar_requests')
