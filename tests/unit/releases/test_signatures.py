"""Webhook secrets are derived, never stored; signatures are checked the way each provider makes them."""

from __future__ import annotations

import hashlib
import hmac

from portal.releases.signatures import github_signature, new_salt, signature_matches, webhook_secret


def test_the_secret_depends_on_the_site_key_and_the_salt():
    salt = new_salt()
    assert webhook_secret("k", salt) == webhook_secret("k", salt)
    assert webhook_secret("k", salt) != webhook_secret("other", salt)
    assert webhook_secret("k", salt) != webhook_secret("k", new_salt())


def test_github_signature_is_hmac_sha256_of_the_body():
    body = b'{"action": "published"}'
    # the value GitHub's documentation computes: "sha256=" + HMAC-SHA256(secret, body) in hex
    expected = "sha256=" + hmac.new(b"It's a Secret to Everybody", body, hashlib.sha256).hexdigest()
    assert github_signature("It's a Secret to Everybody", body) == expected
    assert signature_matches("github", "It's a Secret to Everybody", body, {"x-hub-signature-256": expected})
    assert not signature_matches("github", "It's a Secret to Everybody", body + b" ", {"x-hub-signature-256": expected})
    assert not signature_matches("github", "s", body, {})


def test_gitlab_sends_the_token_itself():
    assert signature_matches("gitlab", "tok", b"{}", {"x-gitlab-token": "tok"})
    assert not signature_matches("gitlab", "tok", b"{}", {"x-gitlab-token": "toke"})
    assert not signature_matches("gitlab", "tok", b"{}", {"x-hub-signature-256": github_signature("tok", b"{}")})
