"""identity levels: level-2 evidence, second factors, recovery codes

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 15:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('level_verified_at', sa.DateTime(timezone=True), nullable=True))

    op.create_table('level_evidence',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('account_id', sa.String(length=32), nullable=False),
    sa.Column('action', sa.String(length=10), nullable=False),
    sa.Column('registrar_client_id', sa.String(length=100), nullable=False),
    sa.Column('request_id', sa.String(length=64), nullable=False),
    sa.Column('officer_id', sa.String(length=64), nullable=False),
    sa.Column('desk_id', sa.String(length=64), nullable=False),
    sa.Column('chip_data_hash', sa.String(length=64), nullable=False),
    sa.Column('card_number', sa.String(length=12), nullable=False),
    sa.Column('card_expiry', sa.Date(), nullable=False),
    sa.Column('face_check', sa.String(length=10), nullable=False),
    sa.Column('fingerprint_check', sa.String(length=10), nullable=False),
    sa.Column('verified_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], ),
    sa.ForeignKeyConstraint(['registrar_client_id'], ['clients.client_id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('registrar_client_id', 'request_id')
    )
    with op.batch_alter_table('level_evidence', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_level_evidence_account_id'), ['account_id'], unique=False)

    op.create_table('second_factors',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('account_id', sa.String(length=32), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('label', sa.String(length=60), nullable=False),
    sa.Column('secret_encrypted', sa.String(length=255), nullable=False),
    sa.Column('last_used_step', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('confirmed_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('second_factors', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_second_factors_account_id'), ['account_id'], unique=False)

    op.create_table('recovery_codes',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('account_id', sa.String(length=32), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('recovery_codes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_recovery_codes_account_id'), ['account_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('recovery_codes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_recovery_codes_account_id'))
    op.drop_table('recovery_codes')
    with op.batch_alter_table('second_factors', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_second_factors_account_id'))
    op.drop_table('second_factors')
    with op.batch_alter_table('level_evidence', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_level_evidence_account_id'))
    op.drop_table('level_evidence')
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.drop_column('level_verified_at')
