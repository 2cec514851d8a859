"""Outbound email: replies we compose, reply tokens, and refusing header injection."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email import message_from_bytes
from email import policy as email_policy
from typing import Any

import pytest

from inbox.channels.email.compose import HeaderInjection, compose_reply, reply_subject
from inbox.channels.email.parse import parse_email
from inbox.channels.email.tokens import (
    find_reply_token,
    message_id_for,
    read_reply_token,
    reply_token,
)

SECRET = "test-secret"
WHEN = datetime(2024, 1, 8, 10, 15, tzinfo=UTC)


def reply(**overrides: Any) -> bytes:
    fields: dict[str, Any] = {
        "from_address": "support@example.com",
        "from_name": "Example Support",
        "to": "jane.doe@gmail.com",
        "subject": "Order #1042 has not arrived",
        "text": "Hello Jane,\n\nA replacement is on its way.\n\nSam",
        "html": None,
        "message_id": message_id_for(42, "mail.example.com", SECRET),
        "in_reply_to": "<CAJx3Zq8pL2Vd1@mail.gmail.com>",
        "references": ["<root@mail.example.com>"],
        "date": WHEN,
    }
    fields.update(overrides)
    return bytes(compose_reply(**fields))


def header_lines(raw: bytes) -> list[bytes]:
    return raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n")


# --- the reply a customer receives ----------------------------------------------------


def test_reply_round_trips_through_the_parser() -> None:
    raw = reply(reply_to="support+c42.abc@example.com")
    parsed = parse_email(raw)
    assert parsed.subject == "Re: Order #1042 has not arrived"
    assert (parsed.from_address, parsed.from_name) == ("support@example.com", "Example Support")
    assert parsed.to == ("jane.doe@gmail.com",)
    assert parsed.reply_to == ("support+c42.abc@example.com",)
    assert parsed.in_reply_to == ("<CAJx3Zq8pL2Vd1@mail.gmail.com>",)
    assert parsed.references == ("<root@mail.example.com>", "<CAJx3Zq8pL2Vd1@mail.gmail.com>")
    assert parsed.text == "Hello Jane,\n\nA replacement is on its way.\n\nSam"
    assert parsed.date == WHEN
    assert parsed.auto is None
    # Its Message-ID carries the conversation's token back in the customer's reply.
    assert find_reply_token([parsed.message_id or ""], SECRET) == 42


def test_serialised_with_crlf_only() -> None:
    raw = reply(html="<p>Hello</p>", attachments=[("label.pdf", "application/pdf", b"%PDF")])
    assert b"\r\n" in raw
    assert b"\n" not in raw.replace(b"\r\n", b"")
    assert b"\r" not in raw.replace(b"\r\n", b"")


def test_html_and_attachments() -> None:
    raw = reply(
        html="<p>Hello <b>Jane</b></p>",
        attachments=[
            ("Étiquette retour.pdf", "application/pdf", b"%PDF-1.4 label"),
            ("notes.txt", "text/plain", "café\n".encode()),
            ("forwarded.eml", "message/rfc822", b"Subject: x\r\n\r\nbody"),
        ],
    )
    msg = message_from_bytes(raw, policy=email_policy.default)
    assert msg.get_content_type() == "multipart/mixed"
    parsed = parse_email(raw)
    assert parsed.html == "<p>Hello <b>Jane</b></p>"
    assert [(a.filename, a.content_type, a.data) for a in parsed.attachments] == [
        ("Étiquette retour.pdf", "application/pdf", b"%PDF-1.4 label"),
        ("notes.txt", "text/plain", "café\n".encode()),
        ("forwarded.eml", "application/octet-stream", b"Subject: x\r\n\r\nbody"),
    ]


def test_non_ascii_names_and_subjects_are_encoded() -> None:
    raw = reply(from_name="Équipe Support — Köln", subject="Grüße ✓")
    assert raw.isascii()
    parsed = parse_email(raw)
    assert parsed.from_name == "Équipe Support — Köln"
    assert parsed.subject == "Re: Grüße ✓"


def test_display_names_with_specials_are_quoted() -> None:
    raw = reply(from_name='Support, "Tier 2" <team>')
    parsed = parse_email(raw)
    assert (parsed.from_name, parsed.from_address) == (
        'Support, "Tier 2" <team>',
        "support@example.com",
    )


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Hello", "Re: Hello"),
        ("Re: Hello", "Re: Hello"),
        ("RE: Hello", "RE: Hello"),
        ("re:Hello", "re:Hello"),
        ("Re[2]: Hello", "Re[2]: Hello"),
        ("AW: Rechnung", "AW: Rechnung"),
        ("SV: Faktura", "SV: Faktura"),
        ("Fwd: Hello", "Re: Fwd: Hello"),
        ("Regarding invoices", "Re: Regarding invoices"),
        ("  Hello  ", "Re: Hello"),
        ("", "Re:"),
    ],
)
def test_reply_subject(subject: str, expected: str) -> None:
    assert reply_subject(subject) == expected


def test_references_keep_order_dedupe_and_end_with_the_parent() -> None:
    raw = reply(
        in_reply_to="<b@x>",
        references=["<root@x>", "<b@x>", "<a@x>", "<root@x>"],
    )
    assert parse_email(raw).references == ("<root@x>", "<a@x>", "<b@x>")


def test_references_are_capped_keeping_the_root() -> None:
    chain = [f"<m{i}@x>" for i in range(50)]
    parsed = parse_email(reply(in_reply_to="<parent@x>", references=chain))
    assert len(parsed.references) == 20
    assert parsed.references[0] == "<m0@x>"
    assert parsed.references[-2:] == ("<m49@x>", "<parent@x>")


def test_new_thread_without_parent() -> None:
    raw = reply(in_reply_to=None, references=[])
    names = {line.split(b":", 1)[0].lower() for line in header_lines(raw)}
    assert b"in-reply-to" not in names and b"references" not in names


def test_automatic_replies_are_marked() -> None:
    raw = reply(automatic=True)
    msg = message_from_bytes(raw, policy=email_policy.default)
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg["X-Auto-Response-Suppress"] == "All"
    # Which is exactly what makes our own classifier refuse to answer it.
    assert parse_email(raw).auto is not None
    plain = message_from_bytes(reply(), policy=email_policy.default)
    assert plain["Auto-Submitted"] is None


def test_date_must_be_aware() -> None:
    with pytest.raises(ValueError):
        reply(date=datetime(2024, 1, 8, 10, 15))
    assert parse_email(reply(date=None)).date is not None


# --- header injection -----------------------------------------------------------------


def test_injected_subject_is_refused() -> None:
    with pytest.raises(HeaderInjection):
        reply(subject="Hi\r\nBcc: victim@x")
    assert issubclass(HeaderInjection, ValueError)


@pytest.mark.parametrize(
    "field",
    ["subject", "from_name", "from_address", "to", "reply_to", "message_id", "in_reply_to"],
)
@pytest.mark.parametrize("separator", ["\r\n", "\n", "\r", "\x00", "\u2028", "\x0b", "\x85"])
def test_any_line_break_or_nul_in_any_header_is_refused(field: str, separator: str) -> None:
    values = {
        "subject": "Hi",
        "from_name": "Support",
        "from_address": "support@example.com",
        "to": "jane@example.com",
        "reply_to": "support@example.com",
        "message_id": "<a@example.com>",
        "in_reply_to": "<b@example.com>",
    }
    value = values[field]
    injected = value[:-1] + separator + "Bcc: victim@x" + value[-1:]
    with pytest.raises(HeaderInjection):
        reply(**{field: injected})


def test_injection_in_references_and_attachment_names_is_refused() -> None:
    with pytest.raises(HeaderInjection):
        reply(references=["<a@x>\r\nBcc: victim@x"])
    with pytest.raises(HeaderInjection):
        reply(attachments=[("a.pdf\r\nBcc: victim@x", "application/pdf", b"x")])


def test_header_lookalikes_without_line_breaks_stay_in_their_header() -> None:
    raw = reply(subject="Hi Bcc: victim@x", from_name="Support Bcc: victim@x")
    assert not any(line.lower().startswith(b"bcc") for line in header_lines(raw))
    assert b"victim@x" not in b"".join(
        line for line in header_lines(raw) if not line.lower().startswith((b"subject", b"from"))
    )
    parsed = parse_email(raw)
    assert parsed.to == ("jane.doe@gmail.com",) and parsed.cc == ()
    assert parsed.subject == "Re: Hi Bcc: victim@x"


@pytest.mark.parametrize(
    "address",
    [
        "",
        "jane",
        "jane doe@example.com",
        "jane@example.com, eve@example.com",
        "Jane <jane@example.com>",
        "jane@@example.com",
        "jane@",
        "@example.com",
        "jane@exa mple.com",
        "jane@-example.com",
        '"jane doe"@example.com',
        "j\u00e4n\u0435@example.com",  # non-ASCII local part (a Cyrillic e, too)
    ],
)
def test_one_plain_address_each(address: str) -> None:
    with pytest.raises(ValueError):
        reply(to=address)


def test_idn_domains_are_encoded() -> None:
    raw = reply(to="kunde@bücher.example")
    assert parse_email(raw).to == ("kunde@xn--bcher-kva.example",)


@pytest.mark.parametrize("bad", ["a@x", "<a@x> <b@x>", "<a b@x>", "<>"])
def test_message_ids_must_be_single_msg_ids(bad: str) -> None:
    with pytest.raises(ValueError):
        reply(message_id=bad)


def test_bad_attachment_content_type() -> None:
    with pytest.raises(ValueError):
        reply(attachments=[("a.pdf", "pdf", b"x")])


# --- reply tokens ------------------------------------------------------------------------


def test_token_round_trip_and_shape() -> None:
    token = reply_token(42, SECRET)
    assert re.fullmatch(r"c42\.[a-z2-7]{10}", token)
    assert read_reply_token(token, SECRET) == 42
    assert read_reply_token(token.upper(), SECRET) == 42  # some systems upper-case local parts
    assert reply_token(42, SECRET) == token  # deterministic


def test_forged_and_foreign_tokens_are_refused() -> None:
    token = reply_token(42, SECRET)
    mac = token.split(".")[1]
    assert read_reply_token(token, "another-secret") is None
    assert read_reply_token(f"c43.{mac}", SECRET) is None  # another conversation, same MAC
    flipped = mac[:-1] + ("a" if mac[-1] != "a" else "b")
    assert read_reply_token(f"c42.{flipped}", SECRET) is None
    for junk in ("", "c42", "c42.", "c0.aaaaaaaaaa", "c-1.aaaaaaaaaa", "c42.abc", "x42.aaaaaaaaaa"):
        assert read_reply_token(junk, SECRET) is None


def test_message_id_for() -> None:
    first = message_id_for(42, "Mail.Example.com", SECRET)
    second = message_id_for(42, "mail.example.com", SECRET)
    assert re.fullmatch(r"<c42\.[a-z2-7]{10}\.[a-z2-7]{16}@mail\.example\.com>", first)
    assert first != second  # unique per message
    assert find_reply_token([first], SECRET) == 42
    for domain in ("", "exa mple.com", "a@b", "<x>", "x\r\ny"):
        with pytest.raises(ValueError):
            message_id_for(42, domain, SECRET)


def test_find_reply_token_in_headers_and_addresses() -> None:
    token = reply_token(42, SECRET)
    other = reply_token(7, SECRET)
    assert find_reply_token([f"support+{token}@example.com"], SECRET) == 42
    assert find_reply_token([f"Support <support+{token}@example.com>"], SECRET) == 42
    assert find_reply_token(["<unrelated@x>", f"<a@x> <{other}.abc@y>"], SECRET) == 7
    # A forged token first does not hide a valid one after it.
    assert find_reply_token([f"<c99.aaaaaaaaaa.x@y> <{token}.r@y>"], SECRET) == 42
    # Embedded inside a longer word it is not a token.
    assert find_reply_token([f"<abc{token}@y>", f"<{token}x@y>"], SECRET) is None
    assert find_reply_token([], SECRET) is None


def test_token_arguments_are_checked() -> None:
    with pytest.raises(ValueError):
        reply_token(0, SECRET)
    with pytest.raises(ValueError):
        reply_token(42, "")
    with pytest.raises(TypeError):
        reply_token(True, SECRET)
