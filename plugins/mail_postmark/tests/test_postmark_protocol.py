"""Postmark on the wire: the exact request the mailer sends, how it reads every kind of
answer, what the emulator refuses, and the plugin as the server loads it."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from crossdock_mail_postmark.client import POSTMARK_API, PostmarkOptions
from crossdock_mail_postmark.emulator import PostmarkEmulator, parse_addresses
from crossdock_mail_postmark.mailer import PostmarkMailer

from crossdock import ChannelError, MailAccount, MailCapability, MailMessage, OutboundHTTP, OutboundPolicy
from crossdock.hookspecs import crossdock_mailers
from crossdock.testing import EMULATOR_HOSTS, load_plugins
from crossdock.testing.emulator import Faults, serve

SENDER = "Acme Ops <ops@acme.example>"
HTTP = OutboundHTTP(OutboundPolicy(EMULATOR_HOSTS))


def message(**changes: Any) -> MailMessage:
    fields: dict[str, Any] = {
        "to": "Erika Mustermann <erika@example.de>",
        "subject": "Your invitation",
        "text": "Join us: https://ops.acme.example/invite/xyz",
        "reference": "mail-42",
        "html": "<p>Join us</p>",
        "tag": "invitation",
        "reply_to": "help@acme.example",
    }
    return MailMessage(**{**fields, **changes})


@asynccontextmanager
async def postmark(**options: Any) -> AsyncIterator[tuple[PostmarkEmulator, MailAccount]]:
    emulator = PostmarkEmulator(Faults())
    emulator.add_sender(SENDER)
    async with serve(emulator) as base_url:
        opts = {**emulator.open_account(), "base_url": base_url, **options}
        yield emulator, MailAccount(sender=SENDER, options=opts, http=HTTP)


async def test_the_request_is_postmarks_send_a_single_email() -> None:
    mailer = PostmarkMailer()
    async with postmark(message_stream="password-resets") as (emulator, account):
        await mailer.send(account, message())
    (request,) = emulator.log
    assert (request.method, request.path, request.query) == ("POST", "/email", {})
    assert request.headers["accept"] == "application/json"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["x-postmark-server-token"] == account.options["server_token"]
    assert "authorization" not in request.headers
    assert json.loads(request.body) == {
        "From": "Acme Ops <ops@acme.example>",
        "To": "Erika Mustermann <erika@example.de>",
        "Subject": "Your invitation",
        "TextBody": "Join us: https://ops.acme.example/invite/xyz",
        "HtmlBody": "<p>Join us</p>",
        "ReplyTo": "help@acme.example",
        "Tag": "invitation",
        "Metadata": {"crossdock_reference": "mail-42"},
        "MessageStream": "password-resets",
    }


async def test_empty_optional_fields_are_left_out_and_the_stream_defaults_to_outbound() -> None:
    mailer = PostmarkMailer()
    async with postmark() as (emulator, account):
        await mailer.send(account, message(html=None, tag=None, reply_to=None))
    assert json.loads(emulator.log[0].body) == {
        "From": SENDER,
        "To": "Erika Mustermann <erika@example.de>",
        "Subject": "Your invitation",
        "TextBody": "Join us: https://ops.acme.example/invite/xyz",
        "Metadata": {"crossdock_reference": "mail-42"},
        "MessageStream": "outbound",
    }


def test_options() -> None:
    options = PostmarkOptions.of({"server_token": " tok "})
    assert (options.server_token, options.base_url, options.message_stream) == (
        "tok",
        POSTMARK_API,
        "outbound",
    )
    assert options.email_url == "https://api.postmarkapp.com/email"
    assert PostmarkOptions.of({"server_token": "t", "base_url": "https://pm.example/"}).email_url == (
        "https://pm.example/email"
    )
    for bad in ({}, {"server_token": ""}, {"server_token": 7}):
        with pytest.raises(ChannelError) as caught:
            PostmarkOptions.of(bad)
        assert (caught.value.code, caught.value.retryable) == ("CREDENTIALS", False)
    with pytest.raises(ChannelError) as caught:
        PostmarkOptions.of({"server_token": "t", "timeout": "soon"})
    assert caught.value.code == "INVALID_OPTIONS"


async def test_loopback_and_plain_http_need_the_operators_allow_list() -> None:
    async with postmark() as (emulator, account):
        strict = replace(account, http=OutboundHTTP(OutboundPolicy()))  # nothing internal allowed
        with pytest.raises(ChannelError) as caught:
            await PostmarkMailer().send(strict, message())
        assert (caught.value.code, caught.value.retryable) == ("URL_NOT_ALLOWED", False)
        receipt = await PostmarkMailer().send(account, message())  # the pool allowing loopback
        assert [m.message_id for m in emulator.received()] == [receipt.message_id]
        assert len(emulator.log) == 1, "the refused call never left"


# ------------------------------------------------------------ answers, one by one


def canned(status: int, body: Any, headers: dict[str, str] | None = None) -> Callable[..., Any]:
    """An ASGI app answering every request the same (the answers Postmark can give)."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body"):
            pass
        head = [(b"content-type", b"application/json")] + [
            (k.encode(), v.encode()) for k, v in (headers or {}).items()
        ]
        await send({"type": "http.response.start", "status": status, "headers": head})
        await send({"type": "http.response.body", "body": raw})

    return app


async def answer(app: Callable[..., Any]) -> Any:
    async with serve(app) as base_url:
        account = MailAccount(sender=SENDER, options={"server_token": "t", "base_url": base_url}, http=HTTP)
        return await PostmarkMailer().send(account, message())


async def test_a_receipt_is_read_in_utc() -> None:
    ok = {
        "To": "erika@example.de",
        "SubmittedAt": "2014-02-17T07:25:01.4178645-05:00",
        "MessageID": "0a129aee-e1cd-480d-b08d-4f48548ff48d",
        "ErrorCode": 0,
        "Message": "OK",
    }
    receipt = await answer(canned(200, ok))
    assert receipt.message_id == "0a129aee-e1cd-480d-b08d-4f48548ff48d"
    assert receipt.accepted_at == datetime(2014, 2, 17, 12, 25, 1, 417864, tzinfo=UTC)
    assert receipt.accepted_at.tzinfo is UTC
    zulu = await answer(canned(200, {**ok, "SubmittedAt": "2024-05-01T10:00:00Z"}))
    assert zulu.accepted_at == datetime(2024, 5, 1, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    ("status", "body", "headers", "code", "retryable", "retry_after"),
    [
        (
            401,
            {"ErrorCode": 10, "Message": "Bad or missing Server API token."},
            {},
            "CREDENTIALS",
            False,
            None,
        ),
        (
            422,
            {"ErrorCode": 10, "Message": "Bad or missing Server API token."},
            {},
            "CREDENTIALS",
            False,
            None,
        ),
        (422, {"ErrorCode": 300, "Message": "Invalid 'To' address."}, {}, "REFUSED", False, None),
        (422, {"ErrorCode": 400, "Message": "Sender signature not found."}, {}, "REFUSED", False, None),
        (422, {"ErrorCode": 406, "Message": "Found inactive addresses: a@b.c."}, {}, "REFUSED", False, None),
        (422, {"ErrorCode": 405, "Message": "Not allowed to send."}, {}, "REFUSED", False, None),
        (413, b"too large", {}, "REFUSED", False, None),
        (
            429,
            {"ErrorCode": 429, "Message": "Rate limit exceeded."},
            {"Retry-After": "7"},
            "THROTTLED",
            True,
            7.0,
        ),
        (429, b"", {}, "THROTTLED", True, None),
        (500, {"ErrorCode": 0, "Message": "Internal error"}, {}, "SERVER_ERROR", True, None),
        (503, b"<html>maintenance</html>", {"Retry-After": "30"}, "SERVER_ERROR", True, 30.0),
        (200, b"{not json", {}, "MALFORMED", True, None),
        (
            200,
            {"ErrorCode": 0, "Message": "OK", "SubmittedAt": "yesterday", "MessageID": "x"},
            {},
            "MALFORMED",
            True,
            None,
        ),
        (200, {"ErrorCode": 406, "Message": "Inactive recipient"}, {}, "REFUSED", False, None),
    ],
)
async def test_each_answer_is_its_typed_error(
    status: int,
    body: Any,
    headers: dict[str, str],
    code: str,
    retryable: bool,
    retry_after: float | None,
) -> None:
    with pytest.raises(ChannelError) as caught:
        await answer(canned(status, body, headers))
    error = caught.value
    assert (error.code, error.retryable, error.retry_after) == (code, retryable, retry_after)
    if isinstance(body, dict) and body.get("ErrorCode"):
        assert body["Message"] in error.message
        assert f"ErrorCode {body['ErrorCode']}" in error.message


async def test_a_retry_after_date_becomes_seconds() -> None:
    later = "Wed, 21 Oct 2099 07:28:00 GMT"
    with pytest.raises(ChannelError) as caught:
        await answer(canned(429, b"", {"Retry-After": later}))
    assert caught.value.retry_after is not None and caught.value.retry_after > 3600


# ------------------------------------------------------------ the emulator refuses what Postmark refuses


def test_addresses_as_postmark_reads_them() -> None:
    assert parse_addresses("a@b.example") == ["a@b.example"]
    assert parse_addresses("Erika <Erika@Example.de>, b+tag@x.io") == ["erika@example.de", "b+tag@x.io"]
    assert parse_addresses('"Joe Sender, jr" <joe@example.com>') == ["joe@example.com"]
    for bad in (
        "",
        "plain",
        "a@@b.c",
        ".a@b.c",
        "a.@b.c",
        "a..b@c.d",
        "Joe Sender, jr <joe@example.com>",
        "a b@c.d",
        "a@b_c.d",
    ):
        assert parse_addresses(bad) is None, bad


async def raw(
    emulator: PostmarkEmulator, body: Any, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    async with serve(emulator) as base_url:
        client = HTTP.client()
        sent = {"Accept": "application/json", "Content-Type": "application/json", **(headers or {})}
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        response = await client.post(f"{base_url}/email", content=content, headers=sent)
        return response.status_code, response.json()


@pytest.mark.parametrize(
    ("change", "status", "error_code"),
    [
        ({"token": None}, 401, 10),
        ({"token": "someone-elses"}, 401, 10),
        ({"headers": {"Accept": "text/html"}}, 422, 409),
        ({"headers": {"Content-Type": "text/plain"}}, 422, 409),
        ({"raw": b"{broken"}, 422, 402),
        ({"raw": b"[1, 2]"}, 422, 402),
        ({"body": {"Subject": 12}}, 422, 403),
        ({"body": {"From": "nobody"}}, 422, 300),
        ({"body": {"From": "Stranger <stranger@elsewhere.example>"}}, 422, 400),
        ({"body": {"From": "pending@acme.example"}}, 422, 401),
        ({"body": {"To": ""}}, 422, 300),
        ({"body": {"To": "erika@example"}}, 200, 0),  # a domain without a dot fits Postmark's pattern
        ({"body": {"To": "erika@exa mple.de"}}, 422, 300),
        ({"body": {"Cc": ", ".join(f"c{i}@example.de" for i in range(50))}}, 422, 300),
        ({"body": {"Cc": ", ".join(f"c{i}@example.de" for i in range(49))}}, 200, 0),
        ({"body": {"ReplyTo": "help"}}, 422, 300),
        ({"body": {"TextBody": "", "HtmlBody": None}}, 422, 300),
        ({"body": {"TextBody": None, "HtmlBody": "<p>only html</p>"}}, 200, 0),
        ({"body": {"Subject": None}}, 200, 0),
        ({"body": {"Tag": "t" * 1001}}, 422, 300),
        ({"body": {"Tag": "t" * 1000}}, 200, 0),
        ({"body": {"Metadata": {"a_key": "1", "A_Key": "2"}}}, 422, 300),
        ({"body": {"Metadata": {"n": 1}}}, 422, 403),
        ({"body": {"To": "gone@example.de"}}, 422, 406),
    ],
)
async def test_the_emulator_refuses(change: dict[str, Any], status: int, error_code: int) -> None:
    emulator = PostmarkEmulator(Faults())
    token = emulator.open_account()["server_token"]
    emulator.add_sender(SENDER)
    emulator.add_sender("pending@acme.example", confirmed=False)
    emulator.deactivate_recipient("Gone <GONE@example.de>")
    body: dict[str, Any] = {"From": SENDER, "To": "erika@example.de", "Subject": "Hi", "TextBody": "Hello"}
    body.update(change.get("body", {}))
    headers = dict(change.get("headers", {}))
    sent_token = change.get("token", token)
    if sent_token is not None:
        headers["X-Postmark-Server-Token"] = sent_token
    got_status, got = await raw(emulator, change.get("raw", body), headers)
    assert (got_status, got["ErrorCode"]) == (status, error_code), got
    assert isinstance(got["Message"], str) and got["Message"]
    assert len(emulator.received()) == (1 if status == 200 else 0)


async def test_the_emulators_answer_and_record() -> None:
    emulator = PostmarkEmulator(Faults())
    token = emulator.open_account()["server_token"]
    emulator.add_sender(SENDER)
    body = {
        "From": SENDER,
        "To": "erika@example.de",
        "TextBody": "x",
        "Metadata": {"crossdock_reference": "r1"},
    }
    status, got = await raw(emulator, body, {"X-Postmark-Server-Token": token})
    assert status == 200
    assert set(got) == {"To", "SubmittedAt", "MessageID", "ErrorCode", "Message"}
    assert (got["To"], got["ErrorCode"], got["Message"]) == ("erika@example.de", 0, "OK")
    assert got["SubmittedAt"].endswith("-05:00")
    (mail,) = emulator.received("r1")
    assert (mail.message_id, mail.metadata, mail.stream) == (
        got["MessageID"],
        {"crossdock_reference": "r1"},
        "outbound",
    )


async def test_random_faults_answer_in_postmarks_body() -> None:
    emulator = PostmarkEmulator(Faults(throttle=1.0, retry_after=0.5))
    status, got = await raw(emulator, {}, {"X-Postmark-Server-Token": "x"})
    assert (status, got["ErrorCode"]) == (429, 429)
    assert emulator.injected["throttle"] == 1


# ------------------------------------------------------------ the plugin, loaded as the server loads it


def test_the_plugin_registers_its_mailer_and_emulator() -> None:
    plugins = load_plugins(["mail_postmark"])
    assert plugins.failures == {}
    mailer = plugins.mailers["postmark"]
    assert isinstance(mailer, PostmarkMailer)
    assert mailer.capabilities == frozenset({MailCapability.SEND})
    assert plugins.mailer("postmark") is mailer
    assert plugins.emulators["postmark"] is PostmarkEmulator
    # the hook itself: crossdock_mailers, called through the plugin manager
    assert crossdock_mailers.__name__ == "crossdock_mailers"
    found = [m for batch in plugins.pm.hook.crossdock_mailers() for m in batch]
    assert [m.name for m in found] == ["postmark"]
    info = next(i for i in plugins.infos if i.plugin == "mail_postmark")
    assert "mail.send" in info.capabilities
