"""Signing in through OpenID Connect in Chromium, against the real test provider (tests/support/oidc_provider.py):
the button on /signin, the provider's page, back to the portal signed in; sign-out; and the answers the portal
refuses (an ID token with another nonce, a code that expired on the way back) shown as error pages."""

from __future__ import annotations

import json

import pytest

from portal.app import create_app
from tests.support.live import live_server_for
from tests.support.oidc_provider import CODE_LIFETIME, oidc_provider

pytestmark = pytest.mark.browser
SECRET = "browser-client-secret"


@pytest.fixture(scope="module")
def signin_portal(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("signin-browser")
    users = {"alice-sub": {"sub": "alice-sub", "name": "Alice Adams", "email": "alice@example.org"}}
    with oidc_provider(users) as op:

        def build(url: str):
            op.add_client("portal", SECRET, [url + "/signin/oidc/test/callback"])
            provider = {"issuer": op.issuer, "client_id": "portal", "client_secret": SECRET, "title": "Test OP"}
            return create_app({"var_dir": str(tmp), "base_url": url, "oidc_providers": json.dumps({"test": provider})})

        with live_server_for(build) as url:
            yield url, op


def sign_in_at_provider(page, url: str, issuer: str) -> None:
    page.goto(url + "/")
    page.click("#signin-link")
    page.wait_for_url("**/signin**")
    page.click('button[data-provider="test"]')
    page.wait_for_url(issuer + "/authorize?**")
    page.click("text=Sign in as Alice Adams")


def test_oidc_sign_in_and_out_in_the_browser(browser, signin_portal, screenshots) -> None:
    url, op = signin_portal
    op.tamper_nonce, op.backdate_codes = False, 0.0
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    sign_in_at_provider(page, url, op.issuer)
    page.wait_for_selector("#account-name")
    assert page.url == url + "/"  # back where the visitor pressed "Sign in"
    assert page.inner_text("#account-name") == "Alice Adams"
    page.screenshot(path=str(screenshots / "signed-in.png"), full_page=True)
    page.click("#account-name")
    page.wait_for_url("**/profile")
    assert page.inner_text("#profile-username") == "alice"
    page.click("text=Sign out")
    page.wait_for_selector("#signin-link")
    context.close()


def test_refused_answers_in_the_browser(browser, signin_portal) -> None:
    url, op = signin_portal
    context = browser.new_context()
    page = context.new_page()
    try:
        op.tamper_nonce = True
        sign_in_at_provider(page, url, op.issuer)
        page.wait_for_selector("text=401")
        assert "does not validate" in page.inner_text("main") and "nonce" in page.inner_text("main")
        op.tamper_nonce, op.backdate_codes = False, CODE_LIFETIME + 1
        sign_in_at_provider(page, url, op.issuer)
        page.wait_for_selector("text=401")
        assert "invalid_grant" in page.inner_text("main")
        assert page.locator("#signin-link").count() == 1  # still signed out
    finally:
        op.tamper_nonce, op.backdate_codes = False, 0.0
        context.close()
