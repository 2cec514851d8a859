"""Separating what a correspondent just wrote from the history their client quoted.

Agents read the new text; the history stays retrievable. Everything here is a
heuristic, so each rule errs towards *showing* text: hiding an answer is worse
than showing a quote.

Plain text (`split_quoted`)
---------------------------
* A cut point starts the history, which runs to the end. The first one wins:
  - an attribution: "On <date>, <name> wrote:", and the German ("Am ... schrieb"),
    French ("Le ... a écrit"), Spanish ("El ... escribió"), Dutch, Italian,
    Portuguese and Swedish forms, possibly wrapped over up to three lines. It
    must contain a digit (dates do), so "On second thought, as I wrote:" is not
    one;
  - Outlook's "-----Original Message-----" (and localised forms);
  - a line of underscores (Outlook's "________________________________")
    followed by a From: line, or at least 30 underscores long;
  - an Outlook header block: a From: line followed within five lines by a
    Sent:/Date: line and a To:/Subject: line (English, German, French,
    Spanish, Dutch, Italian, Portuguese, Scandinavian, Polish labels).
* An attribution followed by *interleaved* answers (quoted lines, then the
  correspondent's own lines) is an inline reply and is not cut: the answers
  make no sense without their questions.
* Otherwise a trailing block of '>' lines is history. Quotes at the top or
  between answers stay, as context.
* A forwarded message ("---------- Forwarded message ---------", "Begin
  forwarded message:") is not history: what a customer forwards to support is
  the request. Everything after the marker is kept.
* Signatures (after "-- ") are kept in the new text: they often carry the
  phone number or company an agent needs, and "--" is too often just a dash
  to cut at. A signature after a cut point is part of the history, naturally.
* Never empty: when the new text would be blank (a message that is all
  quote), the whole text is the new text and the history is ''.

HTML (`split_quoted_html`)
--------------------------
Best effort, by the containers mail clients wrap history in:
* removed with their content: ``class="gmail_quote"`` (Gmail),
  ``<blockquote type="cite">`` (Apple Mail, Thunderbird),
  ``class="moz-cite-prefix"`` (Thunderbird's attribution line),
  ``class="yahoo_quoted"`` (Yahoo);
* removed from there to the end of the document, because Outlook appends the
  history as *siblings* of its header: ``id="divRplyFwdMsg"``,
  ``id="appendonsend"``, ``class="OutlookMessageHeader"``, and Outlook
  desktop's header ``<div style="border:none;border-top:solid #E1E1E1 ...">``
  (or ``#B5C4DF``).
A removed container whose text starts with a forwarding marker is put back,
and if nothing readable remains the whole document is returned as displayed.
The HTML is re-emitted from the parser's events, not sanitised: callers pass
the result through `inbox.sanitize.clean_html`.
"""

from __future__ import annotations

import re
from html import unescape
from html.parser import HTMLParser

__all__ = ["html_to_text", "split_quoted", "split_quoted_html"]

_ATTRIBUTION = re.compile(
    r"""^(?:
        on\s.+\swrote\s?:
      | am\s.+\sschrieb\b.*:
      | .+\sschrieb\sam\s.+:
      | le\s.+\sa\s+écrit\s?:
      | el\s.+\sescribió\s?:
      | op\s.+\sschreef\b.*:
      | il\s.+\sha\s+scritto\s?:
      | em\s.+\sescreveu\s?:
      | den\s.+\sskrev\b.*:
    )$""",
    re.IGNORECASE | re.VERBOSE,
)
# Gmail wraps a long attribution; three lines cover every client seen.
_ATTRIBUTION_MAX_LINES = 3
_ATTRIBUTION_MAX_CHARS = 500

_ORIGINAL_MESSAGE = re.compile(
    r"^\s*-{3,}\s*(?:original\s+message|ursprüngliche\s+nachricht|message\s+d'origine"
    r"|mensaje\s+original|oorspronkelijk\s+bericht|messaggio\s+originale"
    r"|mensagem\s+original|ursprungligt\s+meddelande|oprindelig\s+meddelelse"
    r"|opprinnelig\s+melding|wiadomość\s+oryginalna)\s*-{3,}\s*$",
    re.IGNORECASE,
)
_UNDERSCORES = re.compile(r"^\s*_{10,}\s*$")
_LONG_UNDERSCORES = 30

# Outlook sometimes bolds the labels in its plain text: "*From:* Jane".
_HDR_FROM = re.compile(
    r"^\s*\*?\s*(?:from|von|de|van|da|från|fra|od)\s*:\s*\*?\s*\S", re.IGNORECASE
)
_HDR_DATE = re.compile(
    r"^\s*\*?\s*(?:sent|date|gesendet|datum|envoyé|enviado(?:\s+el)?|verzonden|inviato"
    r"|data|skickat|sendt|wysłano)\s*:",
    re.IGNORECASE,
)
_HDR_OTHER = re.compile(
    r"^\s*\*?\s*(?:to|cc|subject|an|betreff|à|a|objet|para|asunto|aan|onderwerp|oggetto"
    r"|assunto|till|ämne|til|emne|do|temat)\s*:",
    re.IGNORECASE,
)
_HDR_BLOCK_LINES = 5

_FORWARD_MARKER = re.compile(
    r"^\s*(?:-{3,}\s*(?:forwarded\s+message|weitergeleitete\s+nachricht"
    r"|message\s+transféré|mensaje\s+reenviado|doorgestuurd\s+bericht"
    r"|messaggio\s+inoltrato)\s*-{3,}|begin\s+forwarded\s+message\s*:)\s*$",
    re.IGNORECASE,
)
_DIGIT = re.compile(r"\d")


def _is_quoted(line: str) -> bool:
    return line.lstrip().startswith(">")


def _attribution_end(lines: list[str], i: int) -> int | None:
    """The index after the attribution starting at line i, or None."""
    if _is_quoted(lines[i]) or not lines[i].strip():
        return None
    parts: list[str] = []
    for j in range(i, min(i + _ATTRIBUTION_MAX_LINES, len(lines))):
        if j > i and (not lines[j].strip() or _is_quoted(lines[j])):
            break
        parts.append(lines[j].strip())
        joined = " ".join(parts)
        if len(joined) > _ATTRIBUTION_MAX_CHARS:
            break
        if joined.endswith(":") and _ATTRIBUTION.match(joined) and _DIGIT.search(joined):
            return j + 1
    return None


def _is_header_block(lines: list[str], i: int) -> bool:
    if not _HDR_FROM.match(lines[i]):
        return False
    following = lines[i + 1 : i + 1 + _HDR_BLOCK_LINES]
    return any(_HDR_DATE.match(x) for x in following) and any(
        _HDR_OTHER.match(x) for x in following
    )


def _is_underscore_separator(lines: list[str], i: int) -> bool:
    line = lines[i]
    if not _UNDERSCORES.match(line):
        return False
    if line.strip().count("_") >= _LONG_UNDERSCORES:
        return True
    for nxt in lines[i + 1 : i + 4]:
        if nxt.strip():
            return bool(_HDR_FROM.match(nxt))
    return False


def _is_interleaved(lines: list[str], start: int) -> bool:
    """Quoted lines after `start`, then unquoted ones: answers between questions."""
    seen_quote = False
    for line in lines[start:]:
        if not line.strip():
            continue
        if not _is_quoted(line):
            # Unquoted lines straight after the attribution are history some
            # clients do not prefix (plain top-posting); after quotes, answers.
            return seen_quote
        seen_quote = True
    return False


def _may_cut(lines: list[str]) -> list[bool]:
    """Which lines some rule below could start a cut at: most lines are prose none can.

    Every attribution ends with a colon within its three lines, a header
    block's From: line has one, and the other markers hold a dash or an
    underscore. Testing for those characters keeps the regular expressions off
    almost every line, which matters because this runs on every message.
    """
    colon = [":" in line for line in lines]
    reach = _ATTRIBUTION_MAX_LINES
    return ["-" in line or "_" in line or any(colon[i : i + reach]) for i, line in enumerate(lines)]


def _cut_index(lines: list[str]) -> int | None:
    for i, (line, may_cut) in enumerate(zip(lines, _may_cut(lines), strict=True)):
        if not may_cut or _is_quoted(line):
            continue
        if _FORWARD_MARKER.match(line):
            return None
        end = _attribution_end(lines, i)
        if end is not None:
            if _is_interleaved(lines, end):
                # Skip the attribution; a trailing quote may still be cut below.
                return _trailing_quote_index(lines)
            return i
        if (
            _ORIGINAL_MESSAGE.match(line)
            or _is_underscore_separator(lines, i)
            or _is_header_block(lines, i)
        ):
            return i
    return _trailing_quote_index(lines)


def _trailing_quote_index(lines: list[str]) -> int | None:
    end = len(lines)
    while end > 0 and not lines[end - 1].strip():
        end -= 1
    if end == 0 or not _is_quoted(lines[end - 1]):
        return None
    start = end
    while start > 0 and (_is_quoted(lines[start - 1]) or not lines[start - 1].strip()):
        start -= 1
    return start


def split_quoted(text: str) -> tuple[str, str]:
    """(new text, quoted history) of a plain-text message; see the module docstring."""
    normalised = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = normalised.split("\n")
    cut = _cut_index(lines)
    if cut is None:
        return normalised.strip("\n").rstrip(), ""
    new = "\n".join(lines[:cut]).strip("\n").rstrip()
    quoted = "\n".join(lines[cut:]).strip("\n").rstrip()
    if not new.strip():
        return normalised.strip("\n").rstrip(), ""
    return new, quoted


# --- HTML ------------------------------------------------------------------

_VOID = frozenset(
    {
        "area",
        "base",
        "br",
        "col",
        "embed",
        "hr",
        "img",
        "input",
        "link",
        "meta",
        "param",
        "source",
        "track",
        "wbr",
    }
)
_NESTED_CLASSES = frozenset({"gmail_quote", "moz-cite-prefix", "yahoo_quoted"})
_REST_IDS = frozenset({"divrplyfwdmsg", "appendonsend"})
_OUTLOOK_BORDER = re.compile(r"border-top:solid#(?:e1e1e1|b5c4df)", re.IGNORECASE)


def _quote_kind(tag: str, attrs: list[tuple[str, str | None]]) -> str | None:
    """'nest' (this element is history), 'rest' (history from here on), or None."""
    values = {name: (value or "") for name, value in attrs}
    classes = set(values.get("class", "").split())
    if (values.get("id", "").lower() in _REST_IDS) or "OutlookMessageHeader" in classes:
        return "rest"
    if tag == "div" and _OUTLOOK_BORDER.search(re.sub(r"\s+", "", values.get("style", ""))):
        return "rest"
    if classes & _NESTED_CLASSES:
        return "nest"
    if tag == "blockquote" and values.get("type", "").lower() == "cite":
        return "nest"
    return None


class _QuoteSplitter(HTMLParser):
    """Re-emits the document as pieces, each marked shown or removed."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.pieces: list[tuple[bool, list[str]]] = [(False, [])]
        self._tag: str | None = None  # the element whose content is being removed
        self._depth = 0
        self._rest = False

    def _emit(self, raw: str) -> None:
        self.pieces[-1][1].append(raw)

    def _start_removed(self) -> None:
        self.pieces.append((True, []))

    def _end_removed(self) -> None:
        self.pieces.append((False, []))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        raw = self.get_starttag_text() or f"<{tag}>"
        if not self._rest and self._tag is None:
            kind = _quote_kind(tag, attrs)
            if kind == "rest":
                self._rest = True
                self._start_removed()
            elif kind == "nest" and tag not in _VOID:
                self._tag, self._depth = tag, 1
                self._start_removed()
                self._emit(raw)
                return
        elif self._tag == tag and tag not in _VOID:
            self._depth += 1
        self._emit(raw)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        raw = self.get_starttag_text() or f"<{tag}/>"
        if not self._rest and self._tag is None and _quote_kind(tag, attrs) == "rest":
            self._rest = True
            self._start_removed()
        self._emit(raw)

    def handle_endtag(self, tag: str) -> None:
        self._emit(f"</{tag}>")
        if self._tag == tag and not self._rest:
            self._depth -= 1
            if self._depth == 0:
                self._tag = None
                self._end_removed()

    def handle_data(self, data: str) -> None:
        self._emit(data)

    def handle_entityref(self, name: str) -> None:
        self._emit(f"&{name};")

    def handle_charref(self, name: str) -> None:
        self._emit(f"&#{name};")

    def handle_comment(self, data: str) -> None:
        self._emit(f"<!--{data}-->")

    def handle_decl(self, decl: str) -> None:
        self._emit(f"<!{decl}>")

    def handle_pi(self, data: str) -> None:
        self._emit(f"<?{data}>")

    def unknown_decl(self, data: str) -> None:
        self._emit(f"<![{data}]>")


_TAG = re.compile(r"<[^>]*>")
_INVISIBLE = re.compile(
    r"<(head|style|script|title)\b.*?</\1\s*>|<!--.*?-->", re.IGNORECASE | re.DOTALL
)


def _starts_with_forward_marker(html: str) -> bool:
    # Only the first line matters; a rough tag strip of the start is enough.
    text = unescape(_TAG.sub("\n", html[:4000]))
    first = next((line for line in text.split("\n") if line.strip()), "")
    return bool(_FORWARD_MARKER.match(first))


def _has_content(html: str) -> bool:
    # A rough check (tags stripped, no parse): is anything readable left?
    without_tags = _TAG.sub("", _INVISIBLE.sub("", html))
    return bool(unescape(without_tags).strip()) or "<img" in html.lower()


# Every container `_quote_kind` recognises names one of these. A document
# with none of them (most first messages) needs no parse. An attribute that
# spells a marker with character references would escape this test: no mail
# client writes one, and the cost is history shown, the direction to err in.
# Substring tests of the lower-cased text: an IGNORECASE alternation of them
# cost more than the parse it saved.
_MARKERS = (
    "gmail_quote",
    "moz-cite-prefix",
    "yahoo_quoted",
    "blockquote",
    "divrplyfwdmsg",
    "appendonsend",
    "outlookmessageheader",
    "border",
)


def split_quoted_html(html: str) -> tuple[str, str]:
    """(displayed HTML, removed history HTML); see the module docstring."""
    lowered = html.lower()
    if not any(marker in lowered for marker in _MARKERS):
        return html, ""
    splitter = _QuoteSplitter()
    splitter.feed(html)
    splitter.close()
    shown: list[str] = []
    removed: list[str] = []
    for is_removed, parts in splitter.pieces:
        piece = "".join(parts)
        if is_removed and _starts_with_forward_marker(piece):
            is_removed = False
        (removed if is_removed else shown).append(piece)
    displayed, quoted = "".join(shown), "".join(removed)
    if not quoted or not _has_content(displayed):
        return html, ""
    return displayed, quoted


# --- HTML to text ------------------------------------------------------------

_BLOCK = frozenset(
    {
        "address",
        "article",
        "aside",
        "blockquote",
        "br",
        "dd",
        "div",
        "dl",
        "dt",
        "fieldset",
        "figcaption",
        "figure",
        "footer",
        "form",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hr",
        "li",
        "main",
        "nav",
        "ol",
        "p",
        "pre",
        "section",
        "table",
        "tr",
        "ul",
    }
)
_SKIP = frozenset({"script", "style", "title", "template"})
_HTML_SPACE = re.compile(r"[ \t\r\n\f]+")
_MANY_NEWLINES = re.compile(r"\n{3,}")


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self._skip = 0
        self._pre = 0
        self._line_start = True

    def _text(self, text: str) -> None:
        if text:
            self.out.append(text)
            self._line_start = text.endswith("\n")

    def _newline(self) -> None:
        if self.out and not self._pre:
            self.out[-1] = self.out[-1].rstrip(" ")
        self._text("\n")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self._skip += 1
        if tag == "li":
            self._newline()
            self._text("- ")
        elif tag in _BLOCK:
            self._newline()
        elif tag in ("td", "th") and not self._line_start:
            self._text(" ")
        if tag == "pre":
            self._pre += 1

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK:
            self._newline()

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self._skip = max(0, self._skip - 1)
        elif tag == "pre":
            self._pre = max(0, self._pre - 1)
        if tag in _BLOCK and tag not in ("br", "li"):
            self._newline()

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        if self._pre:
            self._text(data)
            return
        text = _HTML_SPACE.sub(" ", data)
        if self._line_start:
            text = text.lstrip(" ")
        self._text(text)


def html_to_text(html: str) -> str:
    """Readable plain text of an HTML body: block elements become line breaks,
    scripts and styles vanish, entities are decoded. Not a renderer."""
    extractor = _TextExtractor()
    extractor.feed(html.replace("\x00", ""))
    extractor.close()
    text = "".join(extractor.out).replace("\xa0", " ")
    lines = [line.rstrip() for line in text.split("\n")]
    return _MANY_NEWLINES.sub("\n\n", "\n".join(lines)).strip("\n")
