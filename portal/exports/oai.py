"""OAI-PMH 2.0: the six verbs, oai_dc and DataCite formats, sets by experiment/type/collection, selective
harvesting by UTC datestamp, and stateless resumption tokens (a keyset cursor, no server-side state)."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from lxml import etree
from sqlalchemy import and_, delete, func, insert, or_, select
from sqlalchemy.orm import Session

from portal.catalog.service import CatalogService
from portal.db.models import Record
from portal.exports import dublincore
from portal.exports.datacite import datacite_json
from portal.exports.models import OAISet
from portal.exports.service import ExportService

OAI = "http://www.openarchives.org/OAI/2.0/"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
VERBS = {
    "Identify": (set(), set()),
    "ListMetadataFormats": (set(), {"identifier"}),
    "ListSets": (set(), {"resumptionToken"}),
    "GetRecord": ({"identifier", "metadataPrefix"}, set()),
    "ListIdentifiers": ({"metadataPrefix"}, {"from", "until", "set", "resumptionToken"}),
    "ListRecords": ({"metadataPrefix"}, {"from", "until", "set", "resumptionToken"}),
}
FORMATS = {
    "oai_dc": ("http://www.openarchives.org/OAI/2.0/oai_dc.xsd", "http://www.openarchives.org/OAI/2.0/oai_dc/"),
    "oai_datacite": ("http://schema.datacite.org/meta/kernel-4.5/metadata.xsd", "http://datacite.org/schema/kernel-4"),
    "datacite": ("http://schema.datacite.org/meta/kernel-4.5/metadata.xsd", "http://datacite.org/schema/kernel-4"),
}
_SPEC_SAFE = re.compile(r"[^A-Za-z0-9_.!~*'()-]+")


class OAIError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def set_specs(metadata: Mapping[str, Any]) -> dict[str, str]:
    """{spec: name} of the sets a record belongs to: experiment, type (and subtype), collection."""
    out: dict[str, str] = {}
    for exp in metadata.get("experiment") or []:
        out[f"exp-{_SPEC_SAFE.sub('_', str(exp))}"] = f"Experiment {exp}"
    rtype = metadata.get("type") or {}
    if rtype.get("primary"):
        out[f"type-{_SPEC_SAFE.sub('_', rtype['primary'])}"] = f"Type {rtype['primary']}"
        for sub in rtype.get("secondary") or []:
            out[f"type-{_SPEC_SAFE.sub('_', rtype['primary'])}-{_SPEC_SAFE.sub('_', sub)}"] = (
                f"Type {rtype['primary']} / {sub}"
            )
    for coll in metadata.get("collections") or []:
        out[f"collection-{_SPEC_SAFE.sub('_', str(coll))}"] = f"Collection {coll}"
    return out


#: statuses OAI-PMH lists: published versions, and removed ones as deleted records (deletedRecord=persistent)
LISTED = ("published", "removed")


def index_sets(s: Session, rec: Record) -> None:
    """Catalogue observer: keep the record's set rows equal to what its metadata says."""
    s.execute(delete(OAISet).where(OAISet.recid == rec.recid))
    specs = set_specs(rec.data)
    if specs:
        s.execute(insert(OAISet), [{"recid": rec.recid, "spec": k, "name": v} for k, v in specs.items()])


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def datestamp(moment: datetime) -> str:
    return _utc(moment).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_datestamp(text: str, *, end: bool) -> tuple[datetime, str]:
    """A `from`/`until` argument as a UTC datetime, and its granularity ("day" or "seconds")."""
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            day = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
            return (day.replace(hour=23, minute=59, second=59, microsecond=999999) if end else day), "day"
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", text):
            moment = datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
            return (moment.replace(microsecond=999999) if end else moment), "seconds"
    except ValueError:
        pass
    raise OAIError("badArgument", f"{text!r} is not a UTC datestamp (YYYY-MM-DD or YYYY-MM-DDThh:mm:ssZ)")


def _bounded(value: object, *, low: int = 1) -> int:
    """An integer of a resumption token within an INTEGER column's range (ValueError otherwise: an edited
    token's number would overflow the database)."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= 2**31 - 1:
        raise ValueError(f"{value!r} is out of range")
    return value


@dataclass
class Harvest:
    prefix: str
    start: datetime | None
    end: datetime | None
    spec: str | None
    after: tuple[datetime, int] | None = None
    cursor: int = 0

    def token(self, last: tuple[datetime, int], cursor: int) -> str:
        state = {
            "p": self.prefix,
            "f": self.start.isoformat() if self.start else None,
            "u": self.end.isoformat() if self.end else None,
            "s": self.spec,
            "a": [_utc(last[0]).isoformat(), last[1]],
            "c": cursor,
        }
        return base64.urlsafe_b64encode(json.dumps(state, separators=(",", ":")).encode()).decode().rstrip("=")

    @classmethod
    def from_token(cls, token: str) -> Harvest:
        try:
            state = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
            return cls(
                prefix=state["p"],
                start=datetime.fromisoformat(state["f"]) if state["f"] else None,
                end=datetime.fromisoformat(state["u"]) if state["u"] else None,
                spec=state["s"],
                after=(datetime.fromisoformat(state["a"][0]), _bounded(state["a"][1])),
                cursor=_bounded(state["c"], low=0),
            )
        except (ValueError, KeyError, TypeError, IndexError, RecursionError) as exc:
            raise OAIError("badResumptionToken", "the resumption token is not one this repository issued") from exc


class OAIProvider:
    def __init__(
        self,
        catalog: CatalogService,
        exports: ExportService,
        *,
        base_url: str,
        repository_name: str,
        admin_email: str,
        page_size: int = 100,
        hidden: Callable[[], frozenset[int]] = frozenset,
    ) -> None:
        self.catalog = catalog
        #: the restricted records, which harvesters (anonymous) never see: left out of lists, unknown to GetRecord
        self.hidden = hidden
        self.exports = exports
        self.base_url = base_url.rstrip("/") + "/oai2d"
        self.repository_name = repository_name
        self.admin_email = admin_email
        self.page_size = page_size
        self.host = re.sub(r"^https?://", "", base_url).split("/")[0].split(":")[0] or "localhost"

    # ------------------------------------------------------------ entry point
    def respond(self, args: Mapping[str, list[str]]) -> bytes:
        """The OAI-PMH response document for request arguments ``args`` (each name → its values)."""
        root = etree.Element(f"{{{OAI}}}OAI-PMH", nsmap={None: OAI, "xsi": XSI})
        root.set(f"{{{XSI}}}schemaLocation", f"{OAI} http://www.openarchives.org/OAI/2.0/OAI-PMH.xsd")
        etree.SubElement(root, f"{{{OAI}}}responseDate").text = datestamp(datetime.now(UTC))
        request = etree.SubElement(root, f"{{{OAI}}}request")
        request.text = self.base_url
        try:
            verb, params = self._check(args)
            for key, value in params.items():
                request.set(key, value)
            request.set("verb", verb)
            getattr(self, f"_{verb}")(root, params)
        except OAIError as err:
            error = etree.SubElement(root, f"{{{OAI}}}error", code=err.code)
            error.text = err.message
        return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)

    def _check(self, args: Mapping[str, list[str]]) -> tuple[str, dict[str, str]]:
        verbs = args.get("verb", [])
        if len(verbs) != 1 or verbs[0] not in VERBS:
            raise OAIError(
                "badVerb",
                "verb is missing, repeated or not an OAI-PMH verb"
                if len(verbs) != 1
                else f"{verbs[0]!r} is not an OAI-PMH verb",
            )
        verb = verbs[0]
        required, optional = VERBS[verb]
        params: dict[str, str] = {}
        for key, values in args.items():
            if key == "verb":
                continue
            if key not in required | optional:
                raise OAIError("badArgument", f"{verb} does not take the argument {key!r}")
            if len(values) != 1:
                raise OAIError("badArgument", f"the argument {key!r} is repeated")
            params[key] = values[0]
        if "resumptionToken" in params:
            if len(params) != 1:
                raise OAIError("badArgument", "resumptionToken is an exclusive argument")
        else:
            missing = required - set(params)
            if missing:
                raise OAIError("badArgument", f"{verb} needs the argument(s) {', '.join(sorted(missing))}")
        return verb, params

    # ------------------------------------------------------------------ verbs
    def _Identify(self, root: etree._Element, params: dict[str, str]) -> None:  # noqa: N802
        with self.catalog.db.reader() as s:
            earliest = s.scalar(select(func.min(Record.updated_at)).where(Record.status.in_(LISTED)))
        node = etree.SubElement(root, f"{{{OAI}}}Identify")
        for tag, text in (
            ("repositoryName", self.repository_name),
            ("baseURL", self.base_url),
            ("protocolVersion", "2.0"),
            ("adminEmail", self.admin_email),
            ("earliestDatestamp", datestamp(earliest) if earliest else "1970-01-01T00:00:00Z"),
            ("deletedRecord", "persistent"),  # removed versions stay listed as deleted (tombstones)
            ("granularity", "YYYY-MM-DDThh:mm:ssZ"),
        ):
            etree.SubElement(node, f"{{{OAI}}}{tag}").text = text

    def _ListMetadataFormats(self, root: etree._Element, params: dict[str, str]) -> None:  # noqa: N802
        if "identifier" in params:
            self._recid(params["identifier"])
        node = etree.SubElement(root, f"{{{OAI}}}ListMetadataFormats")
        for prefix, (schema, namespace) in FORMATS.items():
            fmt = etree.SubElement(node, f"{{{OAI}}}metadataFormat")
            for tag, text in (("metadataPrefix", prefix), ("schema", schema), ("metadataNamespace", namespace)):
                etree.SubElement(fmt, f"{{{OAI}}}{tag}").text = text

    def _ListSets(self, root: etree._Element, params: dict[str, str]) -> None:  # noqa: N802
        if "resumptionToken" in params:
            raise OAIError("badResumptionToken", "ListSets returns every set at once; there is no token to resume")
        with self.catalog.db.reader() as s:
            rows = s.execute(
                select(OAISet.spec, func.min(OAISet.name))
                .join(Record, Record.recid == OAISet.recid)
                .where(Record.status == "published")
                .group_by(OAISet.spec)
                .order_by(OAISet.spec)
            ).all()
        node = etree.SubElement(root, f"{{{OAI}}}ListSets")
        for spec, name in rows:
            item = etree.SubElement(node, f"{{{OAI}}}set")
            etree.SubElement(item, f"{{{OAI}}}setSpec").text = spec
            etree.SubElement(item, f"{{{OAI}}}setName").text = name

    def _GetRecord(self, root: etree._Element, params: dict[str, str]) -> None:  # noqa: N802
        prefix = self._prefix(params["metadataPrefix"])
        recid = self._recid(params["identifier"])
        with self.catalog.db.reader() as s:
            rec = s.get(Record, recid)
            assert rec is not None
            specs = self._specs(s, [recid])
            node = etree.SubElement(root, f"{{{OAI}}}GetRecord")
            self._record(node, rec.recid, rec.updated_at, specs.get(recid, []), prefix, deleted=rec.status == "removed")

    def _ListIdentifiers(self, root: etree._Element, params: dict[str, str]) -> None:  # noqa: N802
        self._list(root, params, with_metadata=False)

    def _ListRecords(self, root: etree._Element, params: dict[str, str]) -> None:  # noqa: N802
        self._list(root, params, with_metadata=True)

    # ---------------------------------------------------------------- helpers
    def _list(self, root: etree._Element, params: dict[str, str], *, with_metadata: bool) -> None:
        if "resumptionToken" in params:
            harvest = Harvest.from_token(params["resumptionToken"])
        else:
            start = end = None
            granularities = set()
            if "from" in params:
                start, g = parse_datestamp(params["from"], end=False)
                granularities.add(g)
            if "until" in params:
                end, g = parse_datestamp(params["until"], end=True)
                granularities.add(g)
            if len(granularities) > 1:
                raise OAIError("badArgument", "from and until must have the same granularity")
            if start and end and start > end:
                raise OAIError("badArgument", "from is later than until")
            harvest = Harvest(prefix=params["metadataPrefix"], start=start, end=end, spec=params.get("set"))
        prefix = self._prefix(harvest.prefix)
        with self.catalog.db.reader() as s:
            query = select(Record.recid, Record.updated_at, Record.status).where(Record.status.in_(LISTED))
            if harvest.start:
                query = query.where(Record.updated_at >= harvest.start)
            if harvest.end:
                query = query.where(Record.updated_at <= harvest.end)
            if harvest.spec:
                query = query.where(Record.recid.in_(select(OAISet.recid).where(OAISet.spec == harvest.spec)))
            hidden = self.hidden()
            if hidden:
                query = query.where(Record.recid.not_in(sorted(hidden)))
            total = None
            if harvest.after is None:
                total = s.scalar(select(func.count()).select_from(query.subquery()))
            if harvest.after is not None:
                moment, last = harvest.after
                query = query.where(
                    or_(Record.updated_at > moment, and_(Record.updated_at == moment, Record.recid > last))
                )
            rows = s.execute(query.order_by(Record.updated_at, Record.recid).limit(self.page_size + 1)).all()
            if not rows and harvest.after is None:
                raise OAIError("noRecordsMatch", "no record matches these arguments")
            more = len(rows) > self.page_size
            rows = rows[: self.page_size]
            specs = self._specs(s, [r.recid for r in rows])
        node = etree.SubElement(root, f"{{{OAI}}}{'ListRecords' if with_metadata else 'ListIdentifiers'}")
        for recid, updated, status in rows:
            deleted = status == "removed"
            if with_metadata:
                self._record(node, recid, updated, specs.get(recid, []), prefix, deleted=deleted)
            else:
                self._header(node, recid, updated, specs.get(recid, []), deleted=deleted)
        if more or harvest.after is not None:
            token = etree.SubElement(node, f"{{{OAI}}}resumptionToken", cursor=str(harvest.cursor))
            if total is not None:
                token.set("completeListSize", str(total))
            if more:
                last_recid, last_updated, _ = rows[-1]
                token.text = harvest.token((last_updated, last_recid), harvest.cursor + len(rows))

    def _specs(self, s: Session, recids: list[int]) -> dict[int, list[str]]:
        out: dict[int, list[str]] = {}
        for recid, spec in s.execute(
            select(OAISet.recid, OAISet.spec).where(OAISet.recid.in_(recids)).order_by(OAISet.spec)
        ):
            out.setdefault(recid, []).append(spec)
        return out

    def _prefix(self, prefix: str) -> str:
        if prefix not in FORMATS:
            raise OAIError("cannotDisseminateFormat", f"{prefix!r} is not served; use {', '.join(FORMATS)}")
        return prefix

    def identifier(self, recid: int) -> str:
        return f"oai:{self.host}:{recid}"

    def _recid(self, identifier: str) -> int:
        match = re.fullmatch(rf"oai:{re.escape(self.host)}:(\d+)", identifier)
        # beyond an INTEGER column's range no record exists; asking the database would overflow it
        if match and 1 <= int(match.group(1)) <= 2**31 - 1:
            recid = int(match.group(1))
            with self.catalog.db.reader() as s:
                rec = s.get(Record, recid)
                if rec is not None and rec.status in LISTED and recid not in self.hidden():
                    return recid
        raise OAIError("idDoesNotExist", f"{identifier!r} is not an identifier of this repository")

    def _header(
        self, parent: etree._Element, recid: int, updated: datetime, specs: list[str], *, deleted: bool = False
    ) -> None:
        header = etree.SubElement(parent, f"{{{OAI}}}header")
        if deleted:
            header.set("status", "deleted")
        etree.SubElement(header, f"{{{OAI}}}identifier").text = self.identifier(recid)
        etree.SubElement(header, f"{{{OAI}}}datestamp").text = datestamp(updated)
        for spec in specs:
            etree.SubElement(header, f"{{{OAI}}}setSpec").text = spec

    def _record(
        self,
        parent: etree._Element,
        recid: int,
        updated: datetime,
        specs: list[str],
        prefix: str,
        *,
        deleted: bool = False,
    ) -> None:
        record = etree.SubElement(parent, f"{{{OAI}}}record")
        self._header(record, recid, updated, specs, deleted=deleted)
        if deleted:  # OAI-PMH: a deleted record is its header alone
            return
        metadata = etree.SubElement(record, f"{{{OAI}}}metadata")
        rec = self.exports.record(recid)
        if prefix == "oai_dc":
            metadata.append(dublincore.dublin_core(rec))
        else:
            from datacite import schema45

            metadata.append(schema45.dump_etree(datacite_json(rec)))
