"""A console asks which payment methods to offer for a checkout; the answer is ranked and
uses the tenant's own settings (bank accounts, COD limits)."""

from __future__ import annotations

from typing import Any

from crossdock.testing import set_tenant_settings

METHODS = """query($c: String!, $a: Decimal!, $cur: String!) {
  paymentMethods(country: $c, amount: {amount: $a, currency: $cur}) { provider method rank } }"""


async def test_methods_for_a_malaysian_checkout_ranked(api: Any, app: Any, tenant_factory: Any) -> None:
    tenant = await tenant_factory()
    await set_tenant_settings(
        app,
        tenant,
        {
            "payments": {
                "bank_transfer": {
                    "accounts": {
                        "MYR": {"bank": "Maybank", "account_number": "514012345678", "holder": "Acme"}
                    }
                },
                "cod": {"limits": {"MY": "20.00"}},  # this brand caps COD lower than the default
            }
        },
    )

    async def offered(amount: str) -> list[tuple[str, str]]:
        data = await api.data(METHODS, {"c": "MY", "a": amount, "cur": "MYR"}, key=tenant.key)
        ranks = [m["rank"] for m in data["paymentMethods"]]
        assert ranks == sorted(ranks)
        return [(m["provider"], m["method"]) for m in data["paymentMethods"]]

    small = await offered("15.00")
    assert ("cod", "cod") in small and ("bank_transfer", "bank_transfer") in small
    assert small[0] == ("stripe", "fpx")  # Malaysia's online banking leads
    large = await offered("25.00")
    assert ("cod", "cod") not in large  # above this brand's COD limit
    assert ("bank_transfer", "bank_transfer") in large
