"""search_pairs() names search_pair_hash() with its schema, so a pg_dump of the database restores.

pg_restore runs with an empty search_path; the generated column search_text.pairs calls search_pairs(), whose
body called search_pair_hash() unqualified, so restoring a backup failed ("function search_pair_hash(text, text)
does not exist", found by tests/functional/test_backup.py). The body now names the schema the migration runs in.
A SET search_path clause would do the same but stops PostgreSQL from inlining the function.

Revision ID: 0017_restorable_search_pairs
Revises: 0013c
"""

from alembic import op
from sqlalchemy import text

revision = "0017_restorable_search_pairs"
down_revision = "0013c"
branch_labels = None
depends_on = None

PAIRS = """
CREATE OR REPLACE FUNCTION search_pairs(v tsvector) RETURNS integer[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
  SELECT coalesce(array_agg(DISTINCT {hash}(w.lexeme, n.lexeme)), '{{}}')
  FROM (SELECT u.lexeme, p FROM unnest(v) AS u, unnest(u.positions) AS p) AS w
  JOIN (SELECT u.lexeme, p FROM unnest(v) AS u, unnest(u.positions) AS p) AS n ON n.p = w.p + 1
$$
"""


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    schema = bind.execute(text("SELECT quote_ident(current_schema())")).scalar_one()
    op.execute(PAIRS.format(hash=f"{schema}.search_pair_hash"))


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(PAIRS.format(hash="search_pair_hash"))
