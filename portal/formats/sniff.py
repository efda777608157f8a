"""What content is when no registered format claims it: "json", "text" or "binary", from its first bytes."""

from __future__ import annotations

#: the kinds of content that are no data format; a file row's ``format`` is one of these or a format's name
KINDS = ("json", "text", "binary")


def text_sample(head: bytes) -> str | None:
    """The first 4 KiB of ``head`` as UTF-8 text, or None when it is not text. A multi-byte character cut at the
    sample's end is still text."""
    sample = head[:4096]
    try:
        return sample.decode("utf-8")
    except UnicodeDecodeError:
        try:
            return sample[:-3].decode("utf-8")
        except UnicodeDecodeError:
            return None


def looks_like_json(text: str) -> bool:
    return text.lstrip().startswith(("{", "["))


def content_kind(head: bytes) -> str:
    """ "json", "text" or "binary" for content no format claims."""
    text = text_sample(head)
    if text is None:
        return "binary"
    return "json" if looks_like_json(text) else "text"
