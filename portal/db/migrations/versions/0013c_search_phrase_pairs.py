"""Phrase search on PostgreSQL: the pairs of adjacent words of each document vector, hashed, in a column of
search_text with a GIN index, so that a phrase is checked only against the documents holding all its pairs.

A GIN index on a tsvector knows which documents hold a word, not where: a phrase of common words was checked
against every vector holding all its words (~45 ms at 100,000 documents). The pairs are computed by the database
from the stored vector (a generated column), from the same positions its phrase operator reads, so a document
matching ``'a' <-> 'b' <-> 'c'`` always holds the hashes of (a, b) and (b, c). Hashes may collide: that only adds
candidates, which the phrase itself then rejects. The vectors always carry positions (to_tsvector).

Revision ID: 0013c
Revises: 0013b
"""

from alembic import op

revision = "0013c"
down_revision = "0013b"
branch_labels = None
depends_on = None

# md5 rather than hashtext(): the stored hashes must equal the ones computed for a query on any server they are
# restored to, and hashtext() depends on the machine's byte order.
PAIR_HASH = """
CREATE FUNCTION search_pair_hash(a text, b text) RETURNS integer
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$ SELECT ('x' || left(md5(a || ' ' || b), 8))::bit(32)::integer $$
"""
# Every lexeme at position p paired with every lexeme at p + 1 (a join, not lead(): positions above 16383 are
# stored as 16383, so several lexemes can share one).
PAIRS = """
CREATE FUNCTION search_pairs(v tsvector) RETURNS integer[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
  SELECT coalesce(array_agg(DISTINCT search_pair_hash(w.lexeme, n.lexeme)), '{}')
  FROM (SELECT u.lexeme, p FROM unnest(v) AS u, unnest(u.positions) AS p) AS w
  JOIN (SELECT u.lexeme, p FROM unnest(v) AS u, unnest(u.positions) AS p) AS n ON n.p = w.p + 1
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(PAIR_HASH)
    op.execute(PAIRS)
    op.execute(
        "ALTER TABLE search_text ADD COLUMN pairs integer[] NOT NULL GENERATED ALWAYS AS (search_pairs(tsv)) STORED"
    )
    op.execute("CREATE INDEX ix_search_text_pairs ON search_text USING gin (pairs)")
    op.execute("ANALYZE search_text")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE search_text DROP COLUMN pairs")
    op.execute("DROP FUNCTION search_pairs(tsvector)")
    op.execute("DROP FUNCTION search_pair_hash(text, text)")
