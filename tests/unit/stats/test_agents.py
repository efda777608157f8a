"""Robots, machines and people, by the COUNTER robots list."""

import pytest

from portal.stats.service import classify_agent


@pytest.mark.parametrize(
    ("agent", "kind"),
    [
        ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "robot"),
        ("Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", "robot"),
        ("", "robot"),
        ("python-requests/2.32.3", "machine"),
        ("curl/8.5.0", "machine"),
        ("Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0", "regular"),
    ],
)
def test_classify(agent, kind):
    assert classify_agent(agent) == kind
