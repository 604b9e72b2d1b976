"""A local Postmark server (``POST /email``), refusing what Postmark refuses, in Postmark's
``{"ErrorCode", "Message"}`` body, with the kit's injected faults and scripted ones.

What it checks, in this order (the sources are in the README; the order is this
emulator's choice): the server token (HTTP 401, ErrorCode 10); both JSON headers (422,
ErrorCode 409 "JSON required"); a JSON object body (422, 402 invalid JSON; 403 fields of the
wrong type); the From address's form (422, 300) and that it is a sender signature of this
server (422, 400 not found; 401 not confirmed); the recipients' form and count, at most 50
over To, Cc and Bcc (422, 300); ReplyTo's form (422, 300); a TextBody or an HtmlBody (422,
300); a Tag of at most 1000 characters (422, 300); Metadata keys unique, case ignored (422,
300); and no recipient marked inactive (422, 406). Subject is not required (Postmark's SDK
models leave it optional).

An address is ``mailbox@domain``, optionally ``Name <mailbox@domain>`` (a name with
punctuation in double quotes), several separated by commas; the mailbox and the domain
match the patterns Postmark's support article on ErrorCode 300 gives, and the mailbox has
no leading, trailing or consecutive dots.
"""

from __future__ import annotations

import json
import re
import secrets
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from crossdock.testing.emulator import Emulator, Faults, Reply, Request
from crossdock.testing.mailers import ReceivedMail
from crossdock_mail_postmark.client import REFERENCE_KEY

__all__ = ["MAX_RECIPIENTS", "TAG_LIMIT", "PostmarkEmulator", "parse_addresses"]

#: "The maximum number of recipients for each email is 50, including all To, CC, and BCC
#: recipients" (https://postmarkapp.com/developer, "Things you should know").
MAX_RECIPIENTS = 50
#: Tag: "Max characters 1000" (Email API reference, send a single email).
TAG_LIMIT = 1000

# ErrorCode 300 support article: https://postmarkapp.com/support/article/1180-what-does-errorcode-300-mean
_MAILBOX = re.compile(r"^[a-z0-9.!#$%&'`*+\-/=^_{}|~]+$", re.IGNORECASE)
_DOMAIN = re.compile(r"^((\.)?[a-zA-Z0-9\-])+$")
_NAMED = re.compile(r"^(?P<name>.*?)\s*<(?P<address>[^<>]*)>$", re.DOTALL)
#: characters a display name may hold only inside double quotes (RFC 5322 specials)
_SPECIALS = set('()<>[]:;@\\,."')
#: Postmark writes SubmittedAt in its own offset, with seven fractional digits
_POSTMARK_TZ = timezone(timedelta(hours=-5))

TOKEN_REFUSED = 10
INVALID_REQUEST = 300
SIGNATURE_NOT_FOUND = 400
SIGNATURE_NOT_CONFIRMED = 401
INVALID_JSON = 402
INCOMPATIBLE_JSON = 403
INACTIVE_RECIPIENT = 406
JSON_REQUIRED = 409

#: what the kit's random faults are called in an ErrorCode (this emulator's choice)
_FAULT_CODES = {"throttled": 429, "server_error": 500, "timeout": 504, "not_found": 404, "bad_request": 402}


def _split(text: str) -> list[str]:
    """Comma-separated addresses, commas inside double quotes kept."""
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        if ch == "," and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return [p.strip() for p in parts]


def _valid_address(address: str) -> bool:
    mailbox, at, domain = address.rpartition("@")
    if not at or not mailbox or not domain or "@" in mailbox:
        return False
    if mailbox.startswith(".") or mailbox.endswith(".") or ".." in mailbox:
        return False
    return bool(_MAILBOX.match(mailbox) and _DOMAIN.match(domain))


def _valid_name(name: str) -> bool:
    if len(name) >= 2 and name.startswith('"') and name.endswith('"'):
        return '"' not in name[1:-1].replace('\\"', "")
    return not (set(name) & _SPECIALS)


def parse_addresses(text: str) -> list[str] | None:
    """The addresses (lower case) of a To/Cc/Bcc/From/ReplyTo value, or None when one of
    them is malformed (Postmark's ErrorCode 300)."""
    if not text.strip():
        return None
    found = []
    for part in _split(text):
        named = _NAMED.match(part)
        if named:
            name, address = named["name"].strip(), named["address"].strip()
            if name and not _valid_name(name):
                return None
        else:
            address = part
        if not _valid_address(address):
            return None
        found.append(address.lower())
    return found


@dataclass
class _Scripted:
    status: int
    retry_after: float | None


class PostmarkEmulator(Emulator):
    """One emulated Postmark server: its API tokens, sender signatures, suppressed
    recipients and the messages it accepted (:meth:`received`)."""

    name = "postmark"
    #: mail has no sites; the emulator hook asks every emulator for one
    default_site = "XX"

    def __init__(self, faults: Faults | None = None, *, clock: Callable[[], datetime] | None = None) -> None:
        super().__init__(faults)
        self.clock = clock or (lambda: datetime.now(UTC))
        self.tokens: set[str] = set()
        #: sender signature address -> confirmed
        self.signatures: dict[str, bool] = {}
        self.inactive: set[str] = set()
        self.messages: list[ReceivedMail] = []
        #: every request to the API, as it arrived (for protocol tests)
        self.log: list[Request] = []
        self._scripted: list[_Scripted] = []
        self._lose = 0
        self.route("POST", "/email", self._email)

    # ------------------------------------------------------------ seller side

    def open_account(self) -> dict[str, Any]:
        """A new server API token of this server; the mailer's options."""
        token = str(uuid.UUID(bytes=secrets.token_bytes(16)))
        self.tokens.add(token)
        return {"server_token": token}

    def add_sender(self, address: str, *, confirmed: bool = True) -> None:
        """A sender signature (``Name <a@b>`` or ``a@b``), confirmed unless told."""
        for found in parse_addresses(address) or [address.strip().lower()]:
            self.signatures[found] = confirmed

    add_sender_signature = add_sender

    def deactivate_recipient(self, address: str) -> None:
        """The address bounced hard, complained, or was suppressed by hand."""
        self.inactive.update(parse_addresses(address) or [address.strip().lower()])

    def reactivate_recipient(self, address: str) -> None:
        self.inactive.difference_update(parse_addresses(address) or [address.strip().lower()])

    def received(self, reference: str | None = None) -> Sequence[ReceivedMail]:
        return [m for m in self.messages if reference is None or m.reference == reference]

    def fail_next(self, count: int, *, status: int = 500, retry_after: float | None = None) -> None:
        """The next ``count`` requests answer ``status`` (429 with ``Retry-After`` when
        given) before anything is checked or sent."""
        self._scripted += [_Scripted(status, retry_after) for _ in range(count)]

    def lose_next_answers(self, count: int) -> None:
        """The next ``count`` messages are accepted (and recorded), then answered 504 as a
        gateway whose upstream went silent would."""
        self._lose += count

    # ------------------------------------------------------------ wire

    def error_body(self, status: int, code: str, message: str) -> Any:
        number = int(code) if code.isdigit() else _FAULT_CODES.get(code, status)
        return {"ErrorCode": number, "Message": message}

    def _refuse(self, error_code: int, message: str, status: int = 422) -> Reply:
        return self.error(status, str(error_code), message)

    async def _fault(self, request: Request) -> Reply | None:
        self.log.append(request)
        if self._scripted:
            scripted = self._scripted.pop(0)
            headers = {} if scripted.retry_after is None else {"Retry-After": f"{scripted.retry_after:g}"}
            words = "Rate limit exceeded" if scripted.status == 429 else "Internal server error"
            return self.error(scripted.status, str(scripted.status), words, headers)
        return await super()._fault(request)

    async def _email(self, request: Request) -> Reply:
        token = request.headers.get("x-postmark-server-token", "")
        if token not in self.tokens:
            # "Request does not contain a valid Server token." (401, ErrorCode 10)
            return self._refuse(TOKEN_REFUSED, "Request does not contain a valid Server token.", 401)
        for header in ("accept", "content-type"):
            value = request.headers.get(header, "").split(";", 1)[0].strip().lower()
            if value != "application/json":
                return self._refuse(
                    JSON_REQUIRED, f"JSON required: the {header.title()} header must be application/json."
                )
        try:
            body = json.loads(request.body or b"", object_pairs_hook=_pairs)
        except (json.JSONDecodeError, UnicodeDecodeError):
            return self._refuse(INVALID_JSON, "The request body is not valid JSON.")
        if not isinstance(body, _Object):
            return self._refuse(INVALID_JSON, "The request body must be a JSON object.")
        refusal = self._check(body)
        if refusal is not None:
            return refusal
        return self._accept(body)

    def _check(self, body: _Object) -> Reply | None:
        texts = (
            "From",
            "To",
            "Cc",
            "Bcc",
            "Subject",
            "TextBody",
            "HtmlBody",
            "ReplyTo",
            "Tag",
            "MessageStream",
        )
        for key in texts:
            if body.get(key) is not None and not isinstance(body.get(key), str):
                return self._refuse(INCOMPATIBLE_JSON, f"'{key}' must be a string.")
        metadata = body.get("Metadata")
        if metadata is not None and not (
            isinstance(metadata, _Object) and all(isinstance(v, str) for v in metadata.values())
        ):
            return self._refuse(INCOMPATIBLE_JSON, "'Metadata' must be an object of string values.")
        sender = parse_addresses(body.get("From") or "")
        if sender is None or len(sender) != 1:
            return self._refuse(INVALID_REQUEST, "Invalid 'From' address.")
        if sender[0] not in self.signatures:
            return self._refuse(
                SIGNATURE_NOT_FOUND,
                f"The 'From' address you supplied ({sender[0]}) is not a Sender Signature on your account.",
            )
        if not self.signatures[sender[0]]:
            return self._refuse(
                SIGNATURE_NOT_CONFIRMED, f"The sender signature {sender[0]} is not confirmed."
            )
        recipients: list[str] = []
        for key in ("To", "Cc", "Bcc"):
            value = body.get(key)
            if key == "To" and not (value or "").strip():
                return self._refuse(INVALID_REQUEST, "Zero recipients specified.")
            if value:
                found = parse_addresses(value)
                if found is None:
                    return self._refuse(INVALID_REQUEST, f"Error parsing '{key}': Illegal email address.")
                recipients += found
        if len(recipients) > MAX_RECIPIENTS:
            return self._refuse(
                INVALID_REQUEST, f"Maximum of {MAX_RECIPIENTS} recipients allowed per message."
            )
        if body.get("ReplyTo") and parse_addresses(body["ReplyTo"]) is None:
            return self._refuse(INVALID_REQUEST, "Error parsing 'ReplyTo': Illegal email address.")
        if not body.get("TextBody") and not body.get("HtmlBody"):
            return self._refuse(INVALID_REQUEST, "Provide either email TextBody or HtmlBody or both.")
        if len(body.get("Tag") or "") > TAG_LIMIT:
            return self._refuse(INVALID_REQUEST, f"The 'Tag' is longer than {TAG_LIMIT} characters.")
        if metadata is not None and metadata.duplicated:
            return self._refuse(INVALID_REQUEST, "Metadata keys must be unique (case is ignored).")
        inactive = [r for r in recipients if r in self.inactive]
        if inactive:
            return self._refuse(
                INACTIVE_RECIPIENT,
                "You tried to send to recipient(s) marked inactive (a hard bounce, a spam complaint "
                f"or a manual suppression). Found inactive addresses: {', '.join(inactive)}.",
            )
        return None

    def _accept(self, body: _Object) -> Reply:
        now = self.clock()
        metadata = dict(body.get("Metadata") or {})
        mail = ReceivedMail(
            message_id=str(uuid.uuid4()),
            sender=body["From"],
            to=body["To"],
            subject=body.get("Subject"),
            text=body.get("TextBody"),
            html=body.get("HtmlBody"),
            tag=body.get("Tag"),
            reply_to=body.get("ReplyTo"),
            reference=metadata.get(REFERENCE_KEY),
            accepted_at=now,
            metadata=metadata,
            stream=body.get("MessageStream") or "outbound",
        )
        self.messages.append(mail)
        if self._lose:
            self._lose -= 1
            self.injected["lost_answer"] += 1
            return self.error(504, "timeout", "upstream timed out")
        local = now.astimezone(_POSTMARK_TZ)
        submitted = local.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0" + local.strftime("%z")[:3] + ":00"
        return Reply(
            200,
            {
                "To": body["To"],
                "SubmittedAt": submitted,
                "MessageID": mail.message_id,
                "ErrorCode": 0,
                "Message": "OK",
            },
        )


class _Object(dict[str, Any]):
    """A JSON object that remembers whether two of its keys differ only by case."""

    duplicated = False


def _pairs(pairs: list[tuple[str, Any]]) -> _Object:
    out = _Object(pairs)
    out.duplicated = len({k.lower() for k, _ in pairs}) != len(pairs)
    return out
