"""`paginate()` and `QueryURL`: the links every listing gives, page numbers and cursors alike."""

from __future__ import annotations

import pytest
from flask import Flask
from werkzeug.datastructures import MultiDict

from portal.errors import Invalid
from portal.web.request import QueryURL, flag_arg, int_arg, paginate, range_arg, required_arg


def test_query_url_changes_arguments_in_place_and_keeps_the_rest():
    url = QueryURL("http://p.test/api/records", MultiDict([("type", "Dataset"), ("q", "a b"), ("type", "Lesson")]))
    assert url() == "http://p.test/api/records?type=Dataset&type=Lesson&q=a+b"  # repeats grouped where first seen
    assert url(q="*.root", page=2) == "http://p.test/api/records?type=Dataset&type=Lesson&q=%2A.root&page=2"
    assert url(type=None) == "http://p.test/api/records?q=a+b"
    assert url(type=[]) == url(type=None)
    assert QueryURL("/search")(page=None) == "/search?"  # the portal's links always carried their `?`


def test_page_number_listing_with_a_known_last_page():
    url = QueryURL("http://p.test/files", {"page": [3], "size": [7]})
    assert paginate(url, page=3, last=18) == {
        "self": "http://p.test/files?page=3&size=7",
        "first": "http://p.test/files?page=1&size=7",
        "last": "http://p.test/files?page=18&size=7",
        "prev": "http://p.test/files?page=2&size=7",
        "next": "http://p.test/files?page=4&size=7",
    }
    only = paginate(QueryURL("/f", {"page": [1], "size": [7]}), page=1, last=1)
    assert set(only) == {"self", "first", "last"}
    beyond = paginate(QueryURL("/f", {"page": [9]}), page=9, last=2)  # past the end: back, never further
    assert beyond["prev"] == "/f?page=8" and "next" not in beyond


def test_page_number_listing_that_only_knows_whether_more_follow():
    url = QueryURL("http://p.test/builds", {"page": [2], "size": [5]})
    assert paginate(url, page=2, has_next=True) == {
        "self": "http://p.test/builds?page=2&size=5",
        "prev": "http://p.test/builds?page=1&size=5",
        "next": "http://p.test/builds?page=3&size=5",
    }
    assert paginate(url, page=2, has_next=False).keys() == {"self", "prev"}


def test_cursor_listing_drops_the_page_number_and_keeps_the_query_as_requested():
    url = QueryURL("http://p.test/api/records", MultiDict([("size", "2"), ("page", "2"), ("sort", "title")]))
    requested = "http://p.test/api/records?size=2&page=2&sort=title"
    links = paginate(url, self_url=requested, page=2, cursor=("cursor", "Wy"))
    assert links == {
        "self": requested,
        "prev": "http://p.test/api/records?size=2&page=1&sort=title",
        "next": "http://p.test/api/records?size=2&sort=title&cursor=Wy",
    }
    assert paginate(url, page=None, cursor=("cursor", None)) == {"self": url()}  # the end, reached by a cursor


def test_a_cursor_listing_can_link_back_to_its_start():
    def link(**changes):  # the record page's file box builds its links with url_for and leaves empty ones out
        args = {"files_q": "B_0", **changes}
        return "/record/7?" + "&".join(f"{k}={v}" for k, v in args.items() if v) + "#files-h"

    links = paginate(link, cursor=("files_after", 99), first=True)
    assert links["first"] == "/record/7?files_q=B_0#files-h"
    assert links["next"] == "/record/7?files_q=B_0&files_after=99#files-h"


@pytest.fixture
def request_with():
    app = Flask(__name__)

    def enter(query: str):
        return app.test_request_context("/x?" + query)

    return enter


def test_argument_helpers_name_the_argument_they_refuse(request_with):
    with request_with("size=0&n=x&r=1,2&k=&on=TRUE&bare"):
        assert int_arg("page", 1) == 1
        with pytest.raises(Invalid, match="size must be between 1 and 10, got 0") as info:
            int_arg("size", 5, maximum=10)
        assert info.value.field == "size"
        with pytest.raises(Invalid, match="n must be an integer"):
            int_arg("n", 1)
        assert range_arg("r") == (1.0, 2.0) and range_arg("none") is None
        with pytest.raises(Invalid, match="the k parameter is required"):
            required_arg("k")
        assert flag_arg("on") and not flag_arg("bare") and flag_arg("bare", bare=True) and not flag_arg("off")
    with request_with("r=5"), pytest.raises(Invalid, match="two numbers"):
        range_arg("r")
