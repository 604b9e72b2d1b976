"""/health reports the database and the job backend."""

from __future__ import annotations

from typing import Any

from crossdock.testing import wait_until


async def test_health_reports_database_and_jobs(api: Any, app: Any) -> None:
    response = await api.client.get("/health")
    body = response.json()
    assert body["database"] == {"backend": app.db.dialect, "ok": True}
    assert body["jobs"]["backend"] == "embedded"
    # the embedded runner is not started by the test client: health says so
    assert response.status_code == 503 and body["jobs"]["ok"] is False
    await app.start(run_jobs=True)

    async def healthy() -> Any:
        # the runner's first periodic jobs (syncs of every connection the session's tests
        # left active) can keep a loaded machine's database from answering the first ping
        answer = await api.client.get("/health")
        return answer if answer.status_code == 200 else None

    response = await wait_until(healthy)
    assert response.json()["status"] == "ok"


async def test_graphiql_page_and_assets_are_local(api: Any) -> None:
    page = await api.client.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200
    assert "unpkg.com" not in page.text and "cdn" not in page.text.lower()
    assert '<script src="/graphiql/graphiql.js">' in page.text
    asset = await api.client.get("/graphiql/graphiql.js")
    assert asset.status_code == 200 and len(asset.content) > 100_000
    assert asset.headers["content-type"].startswith("text/javascript")
    style = await api.client.get("/graphiql/graphiql.css")
    assert style.headers["content-type"].startswith("text/css")  # browsers refuse CSS served otherwise
    assert (await api.client.get("/graphiql/..%2F..%2Fpackage.json")).status_code == 404
