"""The shared numbered page: totals count the whole filtered query, pages follow the order and never overlap."""

from __future__ import annotations

from sqlalchemy import Integer, String, create_engine, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from portal.db.paging import page_of


class Base(DeclarativeBase):
    pass


class Item(Base):
    __tablename__ = "items"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    colour: Mapped[str] = mapped_column(String(10))


def test_pages_cover_the_filtered_rows_once_in_order_with_their_total() -> None:
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    with Session(engine) as s:
        s.add_all(Item(id=i, colour="red" if i % 3 else "blue") for i in range(1, 31))
        s.commit()
        red = select(Item).where(Item.colour == "red").order_by(Item.id)  # its own order is replaced
        pages = [page_of(s, red, Item.id.desc(), page=p, size=7) for p in (1, 2, 3, 4)]
        assert {total for _, total in pages} == {20}
        ids = [item.id for rows, _ in pages for item in rows]
        assert ids == sorted((i for i in range(1, 31) if i % 3), reverse=True)
        assert [len(rows) for rows, _ in pages] == [7, 7, 6, 0]
