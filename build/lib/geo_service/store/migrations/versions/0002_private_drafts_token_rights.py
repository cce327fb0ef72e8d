"""Drafts of their own and rights per token.

- Every version records the published version it was based on (`base_version`), and a
  draft's removals live in `version_removals` until it is published: an unpublished draft
  no longer leaks its rows or its removals into later versions.
- Role and area scope belong to each token, not to the user name it was issued under; a
  field worker's token names its worker (`worker_code`).

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("boundary_versions") as batch:
        batch.add_column(sa.Column("base_version", sa.Integer))
        batch.create_foreign_key("fk_boundary_versions_base_version", "boundary_versions",
                                 ["base_version"], ["id"])
    op.create_table(
        "version_removals",
        sa.Column("version_id", sa.Integer,
                  sa.ForeignKey("boundary_versions.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("area_id", sa.Integer, sa.ForeignKey("areas.id", ondelete="CASCADE"),
                  primary_key=True),
    )
    bind = op.get_bind()
    versions = bind.execute(sa.text(
        "SELECT id, state FROM boundary_versions ORDER BY id")).all()
    published = [v for v, state in versions if state != "draft"]
    live = next((v for v, state in versions if state == "live"), None)
    for vid, state in versions:
        if state == "draft":
            base = live if live is not None and live < vid else None
            # A draft's removals were written into areas.version_to: move them aside.
            bind.execute(sa.text(
                "INSERT INTO version_removals (version_id, area_id) "
                "SELECT :v, id FROM areas WHERE version_to = :v"), {"v": vid})
            bind.execute(sa.text(
                "UPDATE areas SET version_to = NULL WHERE version_to = :v"), {"v": vid})
        else:
            earlier = [p for p in published if p < vid]
            base = earlier[-1] if earlier else None
        bind.execute(sa.text("UPDATE boundary_versions SET base_version = :b WHERE id = :v"),
                     {"b": base, "v": vid})

    with op.batch_alter_table("api_tokens") as batch:
        batch.add_column(sa.Column("role", sa.String(20)))
        batch.add_column(sa.Column("area_code", sa.String(32)))
        batch.add_column(sa.Column("worker_code", sa.String(40)))
    bind.execute(sa.text(
        "UPDATE api_tokens SET role = (SELECT role FROM users WHERE users.id = user_id), "
        "area_code = (SELECT area_code FROM users WHERE users.id = user_id)"))
    with op.batch_alter_table("api_tokens") as batch:
        batch.alter_column("role", existing_type=sa.String(20), nullable=False)
    with op.batch_alter_table("users") as batch:
        batch.drop_column("role")
        batch.drop_column("area_code")


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("role", sa.String(20), nullable=False,
                                   server_default="viewer"))
        batch.add_column(sa.Column("area_code", sa.String(32)))
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("worker_code")
        batch.drop_column("area_code")
        batch.drop_column("role")
    op.drop_table("version_removals")
    with op.batch_alter_table("boundary_versions") as batch:
        batch.drop_constraint("fk_boundary_versions_base_version", type_="foreignkey")
        batch.drop_column("base_version")
