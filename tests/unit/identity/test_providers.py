"""Identity providers from settings: the OIDC configuration is refused naming the setting when it is wrong, presets
fill in issuers, secrets stay out of reprs, and both providers are registered in the seam."""

from __future__ import annotations

import pytest

from portal.errors import Invalid
from portal.identity.oidc import OIDCProvider
from portal.identity.providers import LocalProvider, parse_oidc_providers
from portal.registry import IDENTITY_PROVIDERS


def test_both_kinds_are_registered_in_the_seam() -> None:
    assert {"local", "oidc"} <= set(IDENTITY_PROVIDERS.names())
    assert IDENTITY_PROVIDERS.load("local") is LocalProvider and IDENTITY_PROVIDERS.load("oidc") is OIDCProvider


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "not valid JSON"),
        ('["cern"]', "expected a JSON object"),
        ('{"cern": "x"}', "expected a JSON object"),
        ('{"CERN": {}}', "use lower-case letters"),
    ],
)
def test_malformed_provider_settings_are_refused_naming_the_setting(text: str, message: str) -> None:
    with pytest.raises(Invalid, match=message) as err:
        parse_oidc_providers(text)
    assert err.value.field == "PORTAL_OIDC_PROVIDERS"


def test_no_providers_by_default() -> None:
    assert parse_oidc_providers("") == {} and parse_oidc_providers("  ") == {}


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"preset": "cern"}, "needs 'client_id'"),
        ({"preset": "cern", "client_id": "x"}, "needs 'client_secret'"),
        ({"preset": "myspace", "client_id": "x", "client_secret": "y"}, "unknown preset 'myspace'"),
        ({"client_id": "x", "client_secret": "y"}, "needs 'issuer'"),
        ({"preset": "cern", "client_id": "x", "client_secret": "y", "secret": "z"}, "unknown key"),
    ],
)
def test_incomplete_provider_configs_are_refused(config: dict[str, str], message: str) -> None:
    with pytest.raises(Invalid, match=message) as err:
        OIDCProvider("p", config)
    assert err.value.field == "PORTAL_OIDC_PROVIDERS"


def test_presets_fill_in_what_a_site_need_not_know() -> None:
    cern = OIDCProvider("cern", {"preset": "cern", "client_id": "portal", "client_secret": "s3cret-value"})
    assert cern.issuer == "https://auth.cern.ch/auth/realms/cern" and cern.title == "CERN SSO" and cern.openid
    orcid = OIDCProvider("orcid", {"preset": "orcid", "client_id": "APP-1", "client_secret": "s"})
    assert orcid.orcid_from_sub and orcid.scope == "openid"
    github = OIDCProvider("github", {"preset": "github", "client_id": "gh", "client_secret": "s"})
    # GitHub has no ID tokens: the user API names who signed in, and its emails are never used to link accounts
    assert not github.openid and not github.link_verified_email and github.claims_map["sub"] == "id"
    assert "s3cret-value" not in repr(cern)


def test_the_authorization_url_carries_state_nonce_and_a_pkce_challenge() -> None:
    github = OIDCProvider("github", {"preset": "github", "client_id": "gh", "client_secret": "s"})
    first = github.begin("https://portal.example/signin/oidc/github/callback")
    second = github.begin("https://portal.example/signin/oidc/github/callback")
    assert first.url.startswith("https://github.com/login/oauth/authorize?")
    assert "code_challenge_method=S256" in first.url and f"state={first.pending['state']}" in first.url
    assert first.pending["code_verifier"] not in first.url  # only its hash travels
    assert first.pending["state"] != second.pending["state"] and first.pending["nonce"] != second.pending["nonce"]
