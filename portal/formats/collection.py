"""The active file formats, in order of preference: sniffing, lookup by name or file name, and inspection."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from portal.errors import Invalid
from portal.formats.base import FileFormat, ProcessableFormat, Summary, is_processable
from portal.formats.sniff import KINDS, content_kind
from portal.i18n import N_


class Formats:
    """The formats the services use (built by :mod:`portal.services` from the ``portal.formats`` entry points).

    Order matters twice: content is offered to the formats in this order (the first to claim it wins), and a
    dataset holding the same events in several formats is processed in the first of them
    (:meth:`preferred_files`). Objects of this class pickle with their formats (the processing engine sends
    them to Dask workers)."""

    def __init__(self, formats: Iterable[FileFormat]) -> None:
        self._formats = tuple(formats)
        self._by_name = {f.name: f for f in self._formats}
        if len(self._by_name) != len(self._formats):
            raise ValueError(f"two formats share a name: {[f.name for f in self._formats]}")
        if set(self._by_name) & set(KINDS):
            raise ValueError(f"a format may not be called {', '.join(KINDS)}: those name content no format reads")

    def __iter__(self) -> Iterator[FileFormat]:
        return iter(self._formats)

    def __len__(self) -> int:
        return len(self._formats)

    def __repr__(self) -> str:
        return f"Formats({', '.join(self.names())})"

    def names(self) -> list[str]:
        return [f.name for f in self._formats]

    def by_name(self, name: str) -> FileFormat | None:
        """The format called ``name`` (a file row's ``format``), or None for content kinds ("text", ...)."""
        return self._by_name.get(name)

    def sniff(self, head: bytes, tail: bytes = b"") -> str:
        """The name of the first format claiming the content (``head``: the first bytes, up to 8 KiB; ``tail``:
        the last four), else what the content is: "json", "text" or "binary"."""
        for fmt in self._formats:
            if fmt.sniff(head, tail):
                return fmt.name
        return content_kind(head)

    def for_path(self, path: str) -> FileFormat | None:
        """The format a file's name promises by its suffix (case-insensitive; a URL's query is ignored)."""
        lowered = path.split("?", 1)[0].lower()
        for fmt in self._formats:
            if lowered.endswith(fmt.suffixes):
                return fmt
        return None

    def agrees(self, path: str, content: str) -> bool:
        """Whether content sniffed as ``content`` may carry the name ``path``: a name promising no format may
        hold anything, one promising a format needs that format's content, or plain text for a textual format
        (a CSV file with a header and no rows)."""
        promised = self.for_path(path)
        return promised is None or promised.name == content or (content == "text" and promised.textual)

    def for_content(self, content: str) -> FileFormat | None:
        """The format that shows content sniffed as ``content``: that format, or for plain text the first
        textual format (plain text previews as lines of comma-separated values); None for JSON and binary."""
        if content == "text":
            return next((f for f in self._formats if f.textual), None)
        return self._by_name.get(content)

    @property
    def processable(self) -> tuple[ProcessableFormat, ...]:
        """The formats the processing engine reads, in order of preference."""
        return tuple(f for f in self._formats if is_processable(f))

    @property
    def processable_suffixes(self) -> tuple[str, ...]:
        return tuple(s for f in self.processable for s in f.suffixes)

    def reader(self, uri: str) -> ProcessableFormat:
        """The processable format of a file by its name; :class:`Invalid` naming the file otherwise."""
        fmt = self.for_path(uri)
        if fmt is None or not is_processable(fmt):
            raise Invalid(
                N_("no reader for this file: expected {suffixes}"),
                suffixes=", ".join(self.processable_suffixes),
                source=uri,
            )
        return fmt

    def preferred_files(self, uris: Iterable[str]) -> list[str]:
        """The ``uris`` of the first processable format (in order of preference) that has any, in their order.

        A dataset often publishes the same events in several formats (the demo: ROOT, Parquet and HDF5 copies);
        processing all of them would count every event once per format."""
        by_format: dict[str, list[str]] = {}
        for uri in uris:
            fmt = self.for_path(uri)
            if fmt is not None and is_processable(fmt):
                by_format.setdefault(fmt.name, []).append(uri)
        return next((by_format[f.name] for f in self.processable if f.name in by_format), [])

    def inspect(self, source: str, content: str, size: int) -> Summary:
        """The summary of a file whose content was sniffed as ``content`` (a format's name or a content kind):
        the format's :meth:`FileFormat.inspect`, or ``{"format": content, "entries": None}`` for content no
        format reads."""
        fmt = self.by_name(content)
        if fmt is None:
            return {"format": content, "entries": None}
        return fmt.inspect(source, size)

    def inspect_path(self, source: str) -> dict[str, object]:
        """Sniff a local path or fsspec URL (`root://` through fsspec-xrootd) from its content, then inspect it.

        Reads the first 8 KiB and the last 4 bytes to sniff; the summary gains ``size``. A missing or
        unreadable file raises :class:`Invalid` naming it."""
        import fsspec

        try:
            fs, path = fsspec.core.url_to_fs(source)
            size = int(fs.size(path))
            with fs.open(path, "rb") as fh:
                head = fh.read(8192)
                fh.seek(max(0, size - 4))
                tail = fh.read(4)
        except FileNotFoundError as exc:
            raise Invalid(N_("no such file"), source=source) from exc
        except OSError as exc:
            raise Invalid(N_("cannot read: {exc}"), exc=exc, source=source) from exc
        return {**self.inspect(source, self.sniff(head, tail), size), "size": size}
