"""Every hook is documented (in its docstring and in docs/hooks.md) and exercised by a test.

Each hookspec's docstring has the parts plugin authors look for (hookspecs' module doc):
its arguments, its return value, when it is called, what happens when an implementation
raises, a working example and version notes. Each example is registered as a plugin with
``load_plugins(extra=...)`` and called once through the core's real hook.
"""

from __future__ import annotations

import inspect
import logging
import re
import textwrap
import types
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from crossdock import (
    Address,
    AuthorizationRequest,
    CarrierAccount,
    ChannelOrder,
    IdentityConfig,
    MailAccount,
    MailMessage,
    Money,
    PaymentMethodOption,
    TaxContext,
    TaxLine,
    WarehouseAccount,
    hookspecs,
)
from crossdock.testing import Plugins, load_plugins
from crossdock.testing.emulator import Faults

ROOT = Path(__file__).resolve().parents[2]
HOOKS = sorted(
    name for name, fn in inspect.getmembers(hookspecs, inspect.isfunction) if name.startswith("crossdock_")
)


def test_there_are_hooks_for_every_provider_kind() -> None:
    for hook in (
        "crossdock_marketplaces",
        "crossdock_payment_providers",
        "crossdock_carriers",
        "crossdock_tax_engines",
        "crossdock_warehouses",
    ):
        assert hook in HOOKS


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_documented(hook: str) -> None:
    doc = inspect.getdoc(getattr(hookspecs, hook)) or ""
    assert len(doc) > 120, f"{hook} needs a docstring saying what it receives, returns and when"
    assert "Called" in doc or "called" in doc, f"{hook}'s docstring must say when it is called"
    assert f"### {hook}\n" in (ROOT / "docs" / "hooks.md").read_text(), f"docs/hooks.md lacks {hook}"


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_has_tests(hook: str) -> None:
    """A hook name appears in a test other than this file (as datasette checks)."""
    this = Path(__file__).resolve()
    sources = [p for p in (ROOT / "tests").rglob("*.py") if p.resolve() != this]
    sources += list((ROOT / "plugins").glob("*/tests/*.py"))
    assert any(hook in p.read_text() for p in sources), f"no test mentions {hook}"


def _doc(hook: str) -> str:
    return inspect.getdoc(getattr(hookspecs, hook)) or ""


def example_of(hook: str) -> str:
    """The code of the docstring's ``Example::`` block, dedented."""
    lines = _doc(hook).split("\n")
    start = lines.index("Example::") + 1
    block: list[str] = []
    for line in lines[start:]:
        if line.strip() and not line.startswith("    "):
            break
        block.append(line)
    return textwrap.dedent("\n".join(block)).strip() + "\n"


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_doc_has_every_part(hook: str) -> None:
    doc = _doc(hook)
    params = list(inspect.signature(getattr(hookspecs, hook)).parameters)
    documented = re.findall(r"^:param (\w+):", doc, re.MULTILINE)
    assert documented == params, f"{hook}: document every argument, in order, with :param name:"
    assert re.search(r"^:returns: \S", doc, re.MULTILINE), f"{hook} needs a :returns: field"
    assert re.search(r"^Called \S", doc, re.MULTILINE), f"{hook} needs a paragraph saying when it is called"
    assert re.search(r"^If an implementation raises", doc, re.MULTILINE), (
        f"{hook} must say what happens when an implementation raises"
    )
    assert "\nExample::\n" in doc, f"{hook} needs an Example:: block"
    assert re.search(r"^\.\. versionadded:: \S", doc, re.MULTILINE), f"{hook} needs .. versionadded::"
    parts = [
        doc.index(":returns:"),
        re.search(r"^Called ", doc, re.MULTILINE).start(),  # type: ignore[union-attr]
        doc.index("If an implementation raises"),
        doc.index("Example::"),
        doc.index(".. versionadded::"),
    ]
    assert parts == sorted(parts), f"{hook}: the parts come in the documented order"


def _registered(hook: str) -> tuple[Plugins, types.ModuleType]:
    """The hook's example, compiled as a module and loaded as the plugin ``example``."""
    module = types.ModuleType(f"crossdock_example_{hook}")
    exec(compile(example_of(hook), f"<{hook} example>", "exec"), module.__dict__)
    plugins = load_plugins(allow=[], extra=[("example", module)])
    assert plugins.failures == {}
    impls = getattr(plugins.pm.hook, hook).get_hookimpls()
    assert [impl.plugin_name for impl in impls] == ["example"], f"the {hook} example implements {hook}"
    return plugins, module


def _order(country: str) -> ChannelOrder:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    return ChannelOrder(
        external_id="o1",
        status="pending",
        channel_status="new",
        placed_at=now,
        updated_at=now,
        total=Money.of("10", "EUR"),
        lines=[],
        shipping_address=Address(country=country),
    )


async def _marketplaces(
    plugins: Plugins, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    assert [(i.name, i.kind.value, i.plugin) for i in plugins.infos] == [
        ("cornershop", "marketplace", "example")
    ]
    assert plugins.marketplace("cornershop").display_name == "Corner Shop"


async def _payment_providers(
    plugins: Plugins, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    invoice = plugins.payment_providers["invoice"]
    assert invoice.payment_methods("DE", Money.of("80", "EUR")) == [
        PaymentMethodOption("invoice", "invoice", "Kauf auf Rechnung", rank=50)
    ]
    assert invoice.payment_methods("FR", Money.of("80", "EUR")) == []


async def _carriers(
    plugins: Plugins, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    from crossdock.testing.carriers import sample_request

    pigeon = plugins.carriers["pigeon"]
    account = CarrierAccount(id=1, tenant="t", carrier="pigeon", credentials={})
    [rate] = await pigeon.rates(account, sample_request("r1"))
    assert (rate.service, rate.price) == ("coo", Money.of("8.00", "EUR"))  # 800 g


async def _tax_engines(
    plugins: Plugins, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    engine = plugins.tax_engines["flat_tax"]
    assert engine.applies_to("XX") and not engine.applies_to("DE")
    context = TaxContext(tenant="t", seller_country="XX", destination_country="XX")
    [quote] = engine.quote(context, [TaxLine(sku="S1", amount=Money.of("50.00", "EUR"))])
    assert (quote.sku, quote.rate, quote.amount) == ("S1", Decimal("0.10"), Money.of("5.00", "EUR"))


async def _emulators(
    plugins: Plugins, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    emulator = plugins.emulators["cornershop"](Faults())
    assert (emulator.name, emulator.default_site) == ("cornershop", "XX")


async def _fx_rates(
    plugins: Plugins, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    rates = plugins.fx_rates(date(2026, 3, 2))
    assert rates is not None and (rates.day, rates.base, rates.rates["USD"]) == (
        date(2026, 3, 2),
        "EUR",
        Decimal("1.0571"),
    )
    assert plugins.fx_rates(date(2025, 12, 31)) is None


async def _order_checks(
    plugins: Plugins, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    connection = {"id": 1, "channel": "cornershop", "site": "XX", "currency": "EUR"}
    assert [r for r, _ in plugins.order_checks(tenant="t", order=_order("KP"), connection=connection)] == [
        "sanctioned_destination"
    ]
    assert plugins.order_checks(tenant="t", order=_order("DE"), connection=connection) == []


async def _listing_checks(
    plugins: Plugins, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    listing = {"sku": "B1", "channel_sku": "B1", "title": "AA Battery 4-pack", "options": {}}
    connection = {"id": 1, "channel": "cornershop", "site": "DE", "country": "DE", "currency": "EUR"}
    found = plugins.listing_checks(tenant="t", listing=listing, connection=connection)
    assert [r for r, _ in found] == ["needs_certificate"] and "2023/1542" in found[0][1]
    assert (
        plugins.listing_checks(tenant="t", listing=listing, connection={**connection, "country": "FR"}) == []
    )


def _logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "crossdock_example"]


async def _order_ingested(
    plugins: Plugins, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    plugins.order_ingested(tenant="t", order_id=7, external_id="A-7", status="on_hold", created=True)
    plugins.order_ingested(tenant="t", order_id=8, external_id="A-8", status="ready", created=True)
    assert _logged(caplog) == ["order 7 of t arrived on hold"]


async def _stock_changed(
    plugins: Plugins, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    plugins.stock_changed(
        tenant="t", variant_id=3, warehouse_id=1, on_hand=5, reserved=5, reason="reservation"
    )
    plugins.stock_changed(
        tenant="t", variant_id=4, warehouse_id=1, on_hand=6, reserved=5, reason="reservation"
    )
    assert _logged(caplog) == ["variant 3 is sold out in warehouse 1"]


async def _shipment_confirmed(
    plugins: Plugins, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    plugins.shipment_confirmed(tenant="t", order_id=7, shipment_id=2, tracking_number="NV123")
    assert _logged(caplog) == ["order 7 is on its way: NV123"]


async def _ad_platforms(
    plugins: Plugins, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    provider = plugins.marketplace("cornerads")  # connected and synced as a shop is
    assert provider.capabilities == frozenset({"ads.read"})
    [info] = [i for i in plugins.infos if i.name == "cornerads"]
    assert info.kind == "ad_platform"


async def _mailers(
    plugins: Plugins, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    mailer = plugins.mailer("print")
    receipt = await mailer.send(
        MailAccount(sender="ops@example.com"),
        MailMessage(to="ana@example.com", subject="Reset your password", text="...", reference="m1"),
    )
    assert receipt.message_id == "m1"
    assert capsys.readouterr().out == "to ana@example.com: Reset your password\n"


async def _identity_providers(
    plugins: Plugins, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    provider = plugins.identity_provider("trusting")
    config = IdentityConfig(issuer="https://id.example.com", client_id="c", client_secret="s")
    request = AuthorizationRequest(redirect_uri="https://x/cb", state="st", nonce="n", code_verifier="v")
    assert await provider.authorization_url(config, request) == "https://id.example.com/login?state=st"
    identity = await provider.complete(config, request, "ana@example.com")
    assert (identity.subject, identity.email, identity.email_verified) == (
        "ana@example.com",
        "ana@example.com",
        True,
    )


async def _warehouses(
    plugins: Plugins, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    import json
    from typing import Any

    from crossdock.testing.emulator import serve
    from crossdock.testing.kit import emulator_http

    async def shelf(scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert (scope["method"], scope["path"]) == ("GET", "/stock")
        body = json.dumps([{"sku": "S1", "available": 3}, {"sku": "S2", "available": 0}]).encode()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})

    system = plugins.warehouse_system("shelf")
    [info] = [i for i in plugins.infos if i.name == "shelf"]
    assert (info.kind, info.capabilities) == ("warehouse", ("warehouse.stock_pull",))
    async with serve(shelf) as url:
        account = WarehouseAccount(credentials={}, base_url=url, http=emulator_http())
        lines = await system.pull_stock(account)
    assert [(line.sku, line.on_hand) for line in lines] == [("S1", 3), ("S2", 0)]


async def _translators(
    plugins: Plugins, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    import json
    from typing import Any

    from crossdock.providers import TranslationRequest, TranslatorAccount
    from crossdock.testing.emulator import serve
    from crossdock.testing.kit import emulator_http

    async def engine(scope: dict[str, Any], receive: Any, send: Any) -> None:
        message = await receive()
        asked = json.loads(message["body"])
        assert (asked["source"], asked["target"]) == ("en", "de")
        body = json.dumps({"translations": [{"text": t.upper()} for t in asked["q"]]}).encode()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})

    translator = plugins.translators["parrot"]
    async with serve(engine) as url:
        account = TranslatorAccount(options={"url": f"{url}/translate"}, http=emulator_http())
        texts = await translator.translate(
            account, TranslationRequest(texts=["fan", "white"], source="en", target="de")
        )
    assert list(texts) == ["FAN", "WHITE"]


CALLS: dict[
    str, Callable[[Plugins, pytest.LogCaptureFixture, pytest.CaptureFixture[str]], Awaitable[None]]
] = {
    "crossdock_ad_platforms": _ad_platforms,
    "crossdock_marketplaces": _marketplaces,
    "crossdock_payment_providers": _payment_providers,
    "crossdock_carriers": _carriers,
    "crossdock_tax_engines": _tax_engines,
    "crossdock_emulators": _emulators,
    "crossdock_fx_rates": _fx_rates,
    "crossdock_order_checks": _order_checks,
    "crossdock_listing_checks": _listing_checks,
    "crossdock_order_ingested": _order_ingested,
    "crossdock_stock_changed": _stock_changed,
    "crossdock_shipment_confirmed": _shipment_confirmed,
    "crossdock_mailers": _mailers,
    "crossdock_identity_providers": _identity_providers,
    "crossdock_warehouses": _warehouses,
    "crossdock_translators": _translators,
}


def test_every_hook_has_an_example_run() -> None:
    assert sorted(CALLS) == HOOKS


@pytest.mark.parametrize("hook", HOOKS)
async def test_hook_example_works_through_the_real_hook(
    hook: str, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.INFO)
    plugins, _ = _registered(hook)
    await CALLS[hook](plugins, caplog, capsys)
    raised = [r for r in caplog.records if r.name == "crossdock.plugins" and r.levelno >= logging.ERROR]
    assert raised == [], f"the {hook} example raised: {raised[0].getMessage() if raised else ''}"
