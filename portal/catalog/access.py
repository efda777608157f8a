"""Access rights of a record, read from its ``access`` metadata (InvenioRDM's shape, plus a group).

``{"record": "public"|"restricted", "files": "public"|"restricted", "group": NAME,
"embargo": {"active": bool, "until": "YYYY-MM-DD", "reason": TEXT}}``. A record without ``access`` (every CERN
Open Data record) is public with public files. Who may read what is decided in :mod:`portal.identity.policy`;
this module only says what the record asks for, at a given moment.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Literal

from portal.i18n import N_

Level = Literal["public", "restricted"]


@dataclass(frozen=True)
class AccessRights:
    record: Level = "public"
    files: Level = "public"
    group: str | None = None
    embargo_until: date | None = None  # the day (UTC) from which the files (and record) are public
    embargo_reason: str = ""

    def embargoed(self, now: datetime) -> bool:
        """True while an embargo holds (before its ``until`` day, UTC)."""
        return self.embargo_until is not None and _day(now) < self.embargo_until

    def files_restricted(self, now: datetime) -> bool:
        """Whether the files are closed at ``now``: under an active embargo until its day (whatever ``files``
        says, as an embargo means closed until then), else when ``files`` is ``restricted``."""
        if self.embargo_until is not None:
            return self.embargoed(now)
        return self.files == "restricted"

    def record_restricted(self, now: datetime) -> bool:
        """Whether the metadata itself is closed at ``now`` (an embargo's end opens it as it opens the files)."""
        if self.record != "restricted":
            return False
        return self.embargo_until is None or self.embargoed(now)

    def state(self, now: datetime) -> tuple[str, str]:
        """(``open``|``embargoed``|``restricted``, a sentence for pages) at ``now``."""
        if self.files_restricted(now) or self.record_restricted(now):
            if self.embargoed(now):
                assert self.embargo_until is not None
                reason = f" ({self.embargo_reason})" if self.embargo_reason else ""
                return "embargoed", f"Embargoed until {self.embargo_until.isoformat()}{reason}"
            who = f"the group {self.group}" if self.group else "curators"
            return "restricted", f"Restricted to {who}"
        return "open", N_("Open access")  # a msgid: record pages translate it

    def to_json(self, now: datetime) -> dict[str, Any]:
        """What the API says about access at ``now`` (the record's own ``access`` plus the effective state)."""
        state, label = self.state(now)
        return {
            "state": state,
            "label": label,
            "record_restricted": self.record_restricted(now),
            "files_restricted": self.files_restricted(now),
            "group": self.group,
            "embargo_until": self.embargo_until.isoformat() if self.embargo_until else None,
        }


PUBLIC = AccessRights()


def rights_of(metadata: dict[str, Any] | None) -> AccessRights:
    """The access rights ``metadata`` (a record JSON) declares; public when it declares none.

    An embargo that is not ``active`` is ignored; the schema has already checked the shapes, so a value this
    function cannot read (a record loaded before the schema knew ``access``) falls back to restricted, the safe
    side, rather than public.
    """
    access = (metadata or {}).get("access")
    if not isinstance(access, dict):
        return PUBLIC
    embargo = access.get("embargo") or {}
    until: date | None = None
    if isinstance(embargo, dict) and embargo.get("active"):
        try:
            until = date.fromisoformat(str(embargo.get("until"))[:10])
        except ValueError:
            until = date.max
    return AccessRights(
        record="restricted" if access.get("record", "public") != "public" else "public",
        files="restricted" if access.get("files", "public") != "public" else "public",
        group=str(access["group"]) if access.get("group") else None,
        embargo_until=until,
        embargo_reason=str(embargo.get("reason") or "") if isinstance(embargo, dict) else "",
    )


def _day(now: datetime) -> date:
    return (now if now.tzinfo is not None else now.replace(tzinfo=UTC)).astimezone(UTC).date()
