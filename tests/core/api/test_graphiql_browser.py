"""GraphiQL in a real headless browser (Debian's chromium), with no internet.

The IDE must render from assets the server itself serves and answer a query; any request
to another host would fail here, so the test also asserts none was made.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def chromium() -> str:
    if not Path(CHROMIUM).exists():
        message = "Debian's chromium is not installed (apt-get install chromium); browser test skipped"
        if os.environ.get("CROSSDOCK_REQUIRE_SERVICES", "") not in ("", "0"):
            pytest.fail(message)
        pytest.skip(message)
    return CHROMIUM


async def test_graphiql_renders_offline_and_answers(
    chromium: str, live_server: str, tenant_factory: Any, tmp_path: Path
) -> None:
    from playwright.async_api import async_playwright

    tenant = await tenant_factory(scopes=["catalog:read"])
    headers = {"Authorization": f"Bearer {tenant.key}"}
    requested: list[str] = []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium, args=ARGS, headless=True)
        try:
            page = await browser.new_page()
            page.on("request", lambda request: requested.append(request.url))
            # what a person would type into the headers pane, kept by GraphiQL between visits
            await page.add_init_script(
                f"localStorage.setItem('graphiql:headers', {json.dumps(json.dumps(headers))})"
            )
            await page.goto(f"{live_server}/graphql", wait_until="networkidle")
            await page.wait_for_selector(
                ".graphiql-container .graphiql-query-editor .CodeMirror", timeout=20_000
            )
            assert "Loading GraphiQL" not in await page.inner_text("body")
            # styled, not just present: the stylesheet lays the editor out in a flex row
            display = await page.evaluate(
                "getComputedStyle(document.querySelector('.graphiql-container')).display"
            )
            assert display == "flex"
            await page.evaluate(
                "document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror"
                ".setValue('{ viewer { tenantSlug scopes } }')"
            )
            await page.click(".graphiql-execute-button")
            await page.wait_for_function(
                "document.querySelector('.graphiql-response') && "
                f"document.querySelector('.graphiql-response').innerText.includes('{tenant.slug}')",
                timeout=20_000,
            )
            response = await page.inner_text(".graphiql-response")
            shot = tmp_path / "graphiql.png"
            await page.screenshot(path=str(shot))
        finally:
            await browser.close()
    assert '"CATALOG_READ"' in response
    assert shot.stat().st_size > 10_000
    foreign = [url for url in requested if not url.startswith(live_server) and not url.startswith("data:")]
    assert foreign == [], f"the IDE reached outside the server: {foreign}"
    assert any(url.endswith("/graphiql/graphiql.js") for url in requested)
    print(f"screenshot: {shot}")


async def _first_load(chromium: str, url: str, stored_headers: dict[str, str] | None) -> dict[str, Any]:
    """Open the IDE as a fresh browser does; what it showed and the schema it fetched."""
    from playwright.async_api import async_playwright

    introspected: list[Any] = []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium, args=ARGS, headless=True)
        try:
            page = await browser.new_page()

            async def seen(response: Any) -> None:
                if response.request.method == "POST" and "__schema" in (response.request.post_data or ""):
                    introspected.append(await response.json())

            page.on("response", seen)
            if stored_headers is not None:  # left by an earlier visit (an earlier demo run)
                await page.add_init_script(
                    f"localStorage.setItem('graphiql:headers', {json.dumps(json.dumps(stored_headers))})"
                )
            await page.goto(url, wait_until="networkidle")
            await page.wait_for_selector(
                ".graphiql-container .graphiql-query-editor .CodeMirror", timeout=20_000
            )
            await page.wait_for_function(
                "document.querySelector('.graphiql-response') !== null", timeout=20_000
            )
            first = await page.inner_text(".graphiql-response")
            headers = await page.evaluate(
                "[...document.querySelectorAll('.graphiql-editor-tool .CodeMirror')]"
                ".map(e => e.CodeMirror.getValue()).join('\\n')"
            )
            await page.click(".graphiql-execute-button")
            await page.wait_for_function(
                "/\"(data|errors)\"/.test(document.querySelector('.graphiql-response').innerText)",
                timeout=20_000,
            )
            answer = await page.inner_text(".graphiql-response")
        finally:
            await browser.close()
    return {"first": first, "headers": headers, "introspected": introspected, "answer": answer}


async def test_demo_ide_opens_ready_with_the_demo_key_and_schema(
    chromium: str, live_server: str, tenant_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = await tenant_factory(scopes=["admin"])
    monkeypatch.setenv("CROSSDOCK_DEMO", "1")
    monkeypatch.setenv("CROSSDOCK_DEMO_API_KEY", tenant.key)
    monkeypatch.setenv("CROSSDOCK_DEMO_TENANT", tenant.slug)
    stale = {"Authorization": "Bearer cdk_000000000000_from-an-earlier-demo-run"}
    seen = await _first_load(chromium, f"{live_server}/graphql", stale)
    assert tenant.key in seen["headers"] and tenant.slug in seen["headers"]
    assert seen["introspected"] and all("errors" not in body for body in seen["introspected"])
    assert seen["introspected"][0]["data"]["__schema"]["queryType"]["name"] == "Query"
    for shown in (seen["first"], seen["answer"]):
        assert "malformed" not in shown and "Error fetching schema" not in shown
    assert tenant.slug in seen["answer"] and '"errors"' not in seen["answer"]  # the demo query ran


async def test_ide_without_a_key_says_where_it_goes_instead_of_a_server_error(
    chromium: str, live_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CROSSDOCK_DEMO", raising=False)
    seen = await _first_load(chromium, f"{live_server}/graphql", None)
    assert "<your API key>" in seen["headers"]
    assert seen["introspected"] == []  # the placeholder never went to the server
    for shown in (seen["first"], seen["answer"]):
        assert "malformed API key" not in shown
    assert "Put your API key in the Headers tab" in seen["answer"]
