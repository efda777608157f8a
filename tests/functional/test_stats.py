"""Usage statistics: robots, double clicks, uniqueness, hourly buckets, concepts, concurrency, privacy."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from portal.app import services_of
from portal.stats.models import StatsSalt, UsageEvent
from tests.functional.catalog_helpers import dataset, load_file, write_records

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
CHROME = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/537.36 Chrome/126.0 Safari/537.36"
BOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
T0 = datetime(2026, 3, 2, 10, 0, 0, tzinfo=UTC)


@pytest.fixture
def app_settings():
    return {"stats_flush_interval": 0.05}


@pytest.fixture
def app(app, tmp_path):
    records = [dataset(11, conceptrecid=10, version="1"), dataset(12, conceptrecid=10, version="2"), dataset(20)]
    load_file(services_of(app), write_records(tmp_path / "r.json", records))
    return app


@pytest.fixture
def stats(app):
    return services_of(app).stats


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_robots_double_clicks_and_uniques(stats):
    stats.record("view", 11, ip="192.0.2.1", user_agent=BOT, at=at(0))
    stats.record("view", 11, ip="192.0.2.1", user_agent=FIREFOX, at=at(0))
    stats.record("view", 11, ip="192.0.2.1", user_agent=FIREFOX, at=at(10))  # double click: merged
    stats.record("view", 11, ip="192.0.2.1", user_agent=FIREFOX, at=at(100))  # same visitor, same hour
    stats.record("view", 11, ip="192.0.2.2", user_agent=FIREFOX, at=at(200))  # another visitor
    stats.record("view", 11, ip="192.0.2.1", user_agent=FIREFOX, at=at(3700))  # next hour: unique again
    stats.flush()
    stats.aggregate(now=at(7200))
    result = stats.record_stats(11)
    assert result.version["view"].events == 4
    assert result.version["view"].unique_visitors == 3  # 2 in hour 10:00, 1 in hour 11:00
    assert stats.dropped_robots == 1


def test_downloads_bytes_versions_and_concepts(stats):
    stats.record("download", 11, ip="a", user_agent=FIREFOX, file_key="x.root", nbytes=1000, at=at(0))
    stats.record("download", 11, ip="a", user_agent=FIREFOX, file_key="y.root", nbytes=500, at=at(5))
    stats.record("download", 12, ip="a", user_agent=FIREFOX, file_key="x.root", nbytes=1000, at=at(6))
    stats.record("download", 12, ip="b", user_agent=CHROME, file_key="x.root", nbytes=1000, at=at(7))
    stats.record("download", 12, ip="b", user_agent=CHROME, file_key="x.root", nbytes=300, at=at(20))  # resumed
    stats.flush()
    stats.aggregate(now=at(4000))
    v11, v12 = stats.record_stats(11), stats.record_stats(12)
    assert (v11.version["download"].events, v11.version["download"].volume) == (2, 1500)
    assert (v12.version["download"].events, v12.version["download"].unique_visitors) == (2, 2)
    assert v12.version["download"].volume == 2300
    assert v11.all_versions["download"].events == v12.all_versions["download"].events == 4
    assert v11.all_versions["download"].unique_visitors == 2  # a and b, across both versions


def test_double_click_across_the_hour_boundary(stats):
    stats.record("view", 20, ip="a", user_agent=FIREFOX, at=at(3590))
    stats.record("view", 20, ip="a", user_agent=FIREFOX, at=at(3610))
    stats.flush()
    stats.aggregate(now=at(9000))
    assert stats.record_stats(20).version["view"].events == 1


def test_aggregation_is_repeatable_and_catches_late_events(stats):
    stats.record("view", 20, ip="a", user_agent=FIREFOX, at=at(0))
    stats.flush()
    stats.aggregate(now=at(60))
    stats.aggregate(now=at(61))
    assert stats.record_stats(20).version["view"].events == 1
    stats.record("view", 20, ip="b", user_agent=FIREFOX, at=at(90))  # arrives after a run, same open hour
    stats.flush()
    stats.aggregate(now=at(120))
    result = stats.record_stats(20)
    assert result.version["view"].events == 2 and result.last_aggregated == at(120)


def test_no_ip_is_stored_and_salts_rotate(stats, app):
    stats.record("view", 20, ip="198.51.100.7", user_agent=FIREFOX, at=at(0))
    stats.record("view", 20, ip="198.51.100.7", user_agent=FIREFOX, at=at(86400))
    stats.record("view", 20, ip="198.51.100.7", user_agent=FIREFOX, at=at(3 * 86400))
    stats.flush()
    with services_of(app).db.reader() as s:
        events = s.scalars(select(UsageEvent).order_by(UsageEvent.created_at)).all()
        salts = s.scalars(select(StatsSalt.day)).all()
    for event in events:
        assert "198.51.100.7" not in repr(vars(event)) and "Firefox" not in repr(vars(event))
    assert len({e.visitor for e in events}) == 3  # a new salt each day: visits of different days don't link
    assert T0.date() not in salts  # salts older than yesterday are gone


def test_concurrent_recording_loses_nothing(stats):
    threads, per_thread = 16, 250

    def worker(n: int) -> None:
        for i in range(per_thread):
            stats.record(
                "download", 20, ip=f"10.0.{n}.{i}", user_agent=FIREFOX, file_key="f", nbytes=1, at=at(i * 0.001)
            )

    pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    stats.close()
    stats.aggregate(now=at(7200))
    result = stats.record_stats(20).version["download"]
    assert result.events == threads * per_thread and result.volume == threads * per_thread


def test_record_page_views_are_counted_and_shown(app, stats):
    client = app.test_client()
    headers = {"User-Agent": FIREFOX}
    assert client.get("/record/20", headers=headers).status_code == 200
    assert client.get("/record/20", headers=headers).status_code == 200  # a double click
    client.get("/record/20", headers={"User-Agent": BOT})
    client.get("/record/999", headers=headers)  # a 404 is not a view
    stats.flush()
    stats.aggregate()
    body = client.get("/api/stats?recid=20").get_json()
    assert body["this_version"]["view"] == {"events": 1, "unique": 1, "volume": 0}
    assert body["last_aggregated"].endswith("Z")
    page = client.get("/record/20", headers=headers)
    assert b"Unique views" in page.data and b"Counted as of" in page.data
    assert client.get("/api/stats").status_code == 400
    assert client.get("/api/stats?recid=999").status_code == 404


def test_people_who_downloaded_this_also_downloaded(stats, app):
    for visitor in ("a", "b", "c"):
        stats.record("download", 11, ip=visitor, user_agent=FIREFOX, file_key="f", at=at(0))
    for visitor in ("a", "b"):
        stats.record("download", 20, ip=visitor, user_agent=FIREFOX, file_key="g", at=at(60))
    stats.flush()
    stats.aggregate(now=at(4000))
    assert stats.also_downloaded(20) == [(10, 2)]
    assert stats.also_downloaded(11) == [(services_of(app).catalog.get(20).concept_recid, 2)]
