"""DOIs registered with DataCite through its REST API (the `datacite` package's DataCiteRESTClient).

A DOI is created as a draft (``reserve``), then made findable with its landing page URL and its full metadata
(``register``); later registrations of the same DOI update the metadata and the URL.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from portal.errors import Invalid, Unavailable
from portal.i18n import N_
from portal.pids.local import LocalPIDProvider

if TYPE_CHECKING:
    from datacite import DataCiteRESTClient

    from portal.settings import Settings


class DataCitePIDProvider(LocalPIDProvider):
    """Mints ``prefix/namespace.recid`` as the local provider does, and registers the DOIs at DataCite."""

    name = "datacite"
    remote = True

    @classmethod
    def from_settings(cls, settings: Settings) -> DataCitePIDProvider:
        if not settings.datacite_username or not settings.datacite_password:
            missing = "PORTAL_DATACITE_USERNAME" if not settings.datacite_username else "PORTAL_DATACITE_PASSWORD"
            raise Invalid(N_("the datacite PID provider needs a DataCite repository ID and password"), field=missing)
        return cls(
            settings.doi_prefix,
            settings.doi_namespace,
            url=settings.datacite_url,
            username=settings.datacite_username,
            password=settings.datacite_password,
            timeout=settings.datacite_timeout,
        )

    def __init__(self, prefix: str, namespace: str, *, url: str, username: str, password: str, timeout: float) -> None:
        super().__init__(prefix, namespace)
        self.url = url
        self.username = username
        self._password = password
        self.timeout = timeout

    def __repr__(self) -> str:  # the password stays out of logs and tracebacks
        return f"<DataCitePIDProvider {self.username} at {self.url}>"

    def _client(self) -> DataCiteRESTClient:
        from datacite import DataCiteRESTClient

        return DataCiteRESTClient(self.username, self._password, self.prefix, url=self.url, timeout=self.timeout)

    def reserve(self, doi: str, metadata: dict[str, Any] | None = None) -> None:
        from datacite.errors import DataCiteError, HttpError

        client = self._client()
        try:
            if self._exists(client, doi):
                return
            client.draft_doi(dict(metadata or {}), doi)
        except (DataCiteError, HttpError) as err:
            raise _portal_error(err, doi) from None

    def register(self, doi: str, url: str, metadata: dict[str, Any] | None = None) -> None:
        from datacite.errors import DataCiteError, HttpError

        client = self._client()
        attributes = {k: v for k, v in (metadata or {}).items() if k not in ("doi", "url", "event", "prefix")}
        try:
            # a DOI never reserved is created as a draft first, so each DOI goes draft -> findable as DataCite's
            # lifecycle has it, whether or not the portal reserved it when the draft was made
            if not self._exists(client, doi):
                client.draft_doi({}, doi)
            client.update_doi(doi, {**attributes, "doi": doi, "event": "publish"}, url)
        except (DataCiteError, HttpError) as err:
            raise _portal_error(err, doi) from None

    @staticmethod
    def _exists(client: DataCiteRESTClient, doi: str) -> bool:
        from datacite.errors import DataCiteNotFoundError

        try:
            client.get_metadata(doi)
        except DataCiteNotFoundError:
            return False
        return True


def _portal_error(err: Exception, doi: str) -> Invalid | Unavailable:
    """A refusal of DataCite's that names an attribute (its 422 answers: ``{"errors": [{"source", "title"}]}``)
    becomes Invalid naming that attribute; anything else (no answer, 5xx, a refused login) Unavailable, to retry."""
    from datacite.errors import DataCiteUnauthorizedError, HttpError

    if isinstance(err, HttpError):
        return Unavailable(N_("DataCite could not be reached to register {doi}: {err}"), doi=doi, err=err)
    if isinstance(err, DataCiteUnauthorizedError):
        return Unavailable(N_("DataCite refused the repository's credentials while registering {doi}"), doi=doi)
    text = str(err.args[0]) if err.args else ""
    try:
        errors = json.loads(text).get("errors") or []
    except (ValueError, AttributeError):
        errors = []
    named = [e for e in errors if isinstance(e, dict) and e.get("source")]
    if named:
        first = named[0]
        message = "; ".join(f"{e['source']}: {e.get('title', 'is invalid')}" for e in named)
        return Invalid(
            N_("DataCite refused the metadata of {doi}: {message}"),
            doi=doi,
            message=message,
            field=str(first["source"]),
        )
    return Unavailable(
        N_("DataCite failed to register {doi}: {reason}"),
        doi=doi,
        reason=text[:300] or type(err).__name__,
    )
