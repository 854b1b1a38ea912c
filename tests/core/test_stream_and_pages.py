"""stream() in batches (tracked or not), page(number, size) and keyset after(last_row)."""

from __future__ import annotations

import pytest

from core import Database, F, ValidationError
from tests.conftest import StatementLog
from tests.core.reporting import Post, Writer, seed


@pytest.fixture
def db(db_url: str) -> Database:
    database = seed(db_url)
    s = database.create_session()
    writer = s.query(Writer).filter(name="bob").find_one()
    s.add(
        *(Post(title=f"bulk {i:04}", views=i % 7, category=9, writer=writer) for i in range(2500))
    )
    s.commit()
    return database


def test_stream_yields_every_row_once_in_order(db: Database) -> None:
    q = db.query(Post).filter(F.category == 9).order_by("id")
    titles = [p.title for p in q.stream(batch=100)]
    assert titles == [f"bulk {i:04}" for i in range(2500)]


def test_tracked_stream_shares_the_identity_map(db: Database) -> None:
    s = db.create_session()
    first = s.query(Post).filter(F.category == 9).order_by("id").find_one()
    first.title = "changed, unsaved"
    streamed = list(s.query(Post).filter(F.category == 9).order_by("id").stream(batch=500))
    assert streamed[0] is first and first.title == "changed, unsaved"
    streamed[1].views = 99
    s.commit()
    assert db.query(Post).filter(F.views == 99).count() == 1


def test_untracked_stream_builds_plain_objects(db: Database) -> None:
    s = db.create_session()
    q = s.query(Post).filter(F.category == 9).order_by("id")
    a = next(iter(q.stream(batch=10, track=False)))
    b = next(iter(q.stream(batch=10, track=False)))
    assert a is not b and a.title == b.title == "bulk 0000"
    a.title = "not tracked"
    s.commit()
    assert db.query(Post).filter(title="not tracked").count() == 0


def test_queries_run_inside_a_stream_loop(db: Database) -> None:
    """Lazy references and other queries work while the stream is open (servers: the stream
    has a connection of its own)."""
    seen = 0
    for post in db.query(Post).filter(F.category == 9).stream(batch=100):
        if seen % 500 == 0:
            assert post.writer.name == "bob"
            assert db.query(Writer).count() == 3
        seen += 1
    assert seen == 2500


def test_stopping_a_stream_early_ends_its_query(db: Database) -> None:
    for i, _post in enumerate(db.query(Post).stream(batch=50)):
        if i == 120:
            break
    assert db.query(Post).count() == 2506
    rows = list(db.query(Post).filter(F.category == 9).select("views").stream(batch=64))
    assert len(rows) == 2500 and sum(r.views for r in rows) == sum(i % 7 for i in range(2500))


def test_stream_batch_must_be_positive(db: Database) -> None:
    with pytest.raises(ValidationError, match=r"stream\(\) takes a batch size >= 1, got 0"):
        next(iter(db.query(Post).stream(batch=0)))


def test_page_numbers_from_one_sorted_by_key_by_default(db: Database) -> None:
    q = db.query(Post).filter(F.category == 9)
    assert [p.title for p in q.page(1, 3).find()] == ["bulk 0000", "bulk 0001", "bulk 0002"]
    assert [p.title for p in q.page(3, 3).find()] == ["bulk 0006", "bulk 0007", "bulk 0008"]
    assert [p.title for p in q.order_by("-title").page(2, 2).find()] == ["bulk 2497", "bulk 2496"]
    assert q.page(10_000, 3).find() == []
    with pytest.raises(ValidationError, match=r"the page number is a whole number >= 1, got 0"):
        q.page(0, 3)


def test_keyset_pages_walk_the_table_without_gaps_or_repeats(
    db: Database, statements: StatementLog
) -> None:
    """Ordered by a field with repeats (views), the key breaks ties."""
    q = db.query(Post).filter(F.category == 9).order_by("-views")
    seen: list[int] = []
    page = q.after(None).limit(300).find()
    while page:
        seen.extend(p.id for p in page)
        page = q.after(page[-1]).limit(300).find()
    assert len(seen) == len(set(seen)) == 2500
    views = [db.query(Post).filter(id=i).find_one().views for i in seen[:400]]
    assert views == sorted(views, reverse=True)
    statements.clear()
    q.after(page[-1] if page else db.query(Post).filter(F.category == 9).find_one()).find()
    assert "OFFSET" not in statements.dml()[0]


def test_keyset_after_a_selected_row(db: Database) -> None:
    q = db.query(Post).filter(F.category == 9).order_by("title")
    last = q.after(None).select("title", "id").limit(2).find()[-1]
    assert [p.title for p in q.after(last).limit(2).find()] == ["bulk 0002", "bulk 0003"]


def test_keyset_refuses_a_row_without_the_order_fields(db: Database) -> None:
    with pytest.raises(ValidationError, match=r"after\(\) needs the 'views' of the last row"):
        db.query(Post).order_by("views").after(object())
    with pytest.raises(ValidationError, match=r"whose 'writer' is None"):
        db.query(Post).order_by("writer").after(Post(title="x"))
