"""Making what customers send safe to show to agents."""

from __future__ import annotations

import nh3

_TAGS = {
    "a",
    "abbr",
    "b",
    "blockquote",
    "br",
    "caption",
    "code",
    "col",
    "colgroup",
    "dd",
    "del",
    "div",
    "dl",
    "dt",
    "em",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "i",
    "img",
    "ins",
    "kbd",
    "li",
    "ol",
    "p",
    "pre",
    "q",
    "s",
    "small",
    "span",
    "strike",
    "strong",
    "sub",
    "sup",
    "table",
    "tbody",
    "td",
    "tfoot",
    "th",
    "thead",
    "tr",
    "u",
    "ul",
}
# An explicit allow-list: nothing else survives, so htmx's hx-*/data-hx-*
# attributes, event handlers and inline styles never reach the agent's page.
_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan", "scope"},
    "*": {"dir", "lang"},
}
_URL_SCHEMES = {"http", "https", "mailto", "cid"}


class SafeHtml(str):
    """HTML that came out of `clean_html`.

    Ingest sanitises whatever HTML a connector hands it, unless it is this:
    the email connector sanitises in its parse workers, and doing it again
    in the process that stores was a twentieth of that process's work.
    """

    __slots__ = ()


def clean_html(html: str) -> SafeHtml:
    """Sanitised HTML, safe to insert into an agent's page."""
    cleaned = nh3.clean(
        html.replace("\x00", ""),
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes=_URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )
    return SafeHtml(cleaned.strip())


def safe_html(html: str) -> SafeHtml:
    """`html` sanitised, unless it was already."""
    return html if isinstance(html, SafeHtml) else clean_html(html)


def preview(text: str, limit: int = 200) -> str:
    """One line of plain text for lists."""
    # Ingest makes two of these per message, so only a head of the text is
    # flattened (split and join: a third of a regular expression's cost),
    # unless the head was nearly all whitespace.
    flat = _flatten(text[: limit * 2])
    if len(flat) <= limit and limit * 2 < len(text):
        flat = _flatten(text)
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _flatten(text: str) -> str:
    return " ".join(text.replace("\x00", "").split())
