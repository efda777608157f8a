"""Webhook secrets and their checks.

GitHub signs a delivery with HMAC-SHA256 of the body under the secret (``X-Hub-Signature-256: sha256=<hex>``),
GitLab sends the secret itself (``X-Gitlab-Token``). Checking either needs the secret, so it cannot be stored
as a one-way hash; rather than store it encrypted, it is *derived*: HMAC-SHA256 of a per-repository random salt
under the site's secret key. The database holds only the salt (a stolen database gives no secret), the secret is
shown once when the repository is connected, and rotating it is a new salt.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

SALT_BYTES = 24


def new_salt() -> str:
    return secrets.token_hex(SALT_BYTES)


def webhook_secret(site_key: str, salt: str) -> str:
    """The secret of the repository with ``salt`` (what the user pastes into the provider's webhook form)."""
    digest = hmac.new(site_key.encode(), b"release-webhook:" + salt.encode(), hashlib.sha256).hexdigest()
    return f"whsec_{digest}"


def github_signature(secret: str, body: bytes) -> str:
    """The ``X-Hub-Signature-256`` value GitHub sends for ``body`` signed with ``secret``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_matches(provider: str, secret: str, body: bytes, headers: dict[str, str]) -> bool:
    """Whether the delivery's signature header is right for ``secret`` (compared in constant time)."""
    if provider == "github":
        given = headers.get("x-hub-signature-256", "")
        return bool(given) and hmac.compare_digest(given.encode(), github_signature(secret, body).encode())
    if provider == "gitlab":
        given = headers.get("x-gitlab-token", "")
        return bool(given) and hmac.compare_digest(given.encode(), secret.encode())
    return False
