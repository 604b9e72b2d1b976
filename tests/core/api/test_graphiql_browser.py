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
