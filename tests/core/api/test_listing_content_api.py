"""Listing content over GraphQL: images uploaded and served, content saved in versions with
who changed what, the review status of translated fields, and what is refused."""

from __future__ import annotations

import base64
import io
from typing import Any
from urllib.parse import urlsplit

from PIL import Image

from crossdock.api.schema.relay import decode_id, encode_id

UPLOAD = """mutation($d: String!) { listingImageUpload(input: {dataBase64: $d}) {
  image { key url format width height bytes whiteBorder } userErrors { code field } } }"""
SAVE = """mutation($v: ID!, $c: ID!, $lang: String!, $title: String, $bullets: [String!], $attrs: JSON,
  $images: [String!], $category: String) {
  listingContentSave(input: {variantId: $v, connectionId: $c, language: $lang, title: $title, bullets: $bullets,
    attributes: $attrs, images: $images, categoryId: $category}) {
    listingContent { id language title bullets attributes categoryId version updatedBy publishStatus
      changedSincePublished fieldStatus { field status } images { key width format }
      versions { version actor changes } }
    userErrors { code field message } } }"""


def _png(colour: tuple[int, int, int] = (255, 255, 255), size: int = 800) -> str:
    out = io.BytesIO()
    Image.new("RGB", (size, size), colour).save(out, format="PNG")
    return base64.b64encode(out.getvalue()).decode()


async def test_content_is_saved_in_versions_with_its_images(api: Any, shop: Any) -> None:
    key = shop.tenant.key
    up = (await api.data(UPLOAD, {"d": _png()}, key=key))["listingImageUpload"]
    assert up["userErrors"] == []
    image = up["image"]
    assert (image["format"], image["width"], image["height"], image["whiteBorder"]) == ("PNG", 800, 800, 1.0)
    served = await api.client.get(urlsplit(image["url"]).path)
    assert served.status_code == 200 and served.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(served.content)).size == (800, 800)
    assert (await api.client.get("/media/not-a-token")).status_code == 404

    variables = {
        "v": encode_id("Variant", shop.variants["SKU-1"]),
        "c": encode_id("ChannelConnection", shop.connections["sg"]),
        "lang": "en",
        "title": "Desk Fan 30 cm",
        "bullets": ["Three speeds", " ", "Quiet"],
        "attrs": {"colour": "white", "watts": 40},
        "images": [image["key"]],
        "category": "fans",
    }
    first = (await api.data(SAVE, variables, key=key))["listingContentSave"]
    assert first["userErrors"] == []
    content = first["listingContent"]
    assert content["bullets"] == ["Three speeds", "Quiet"]  # blank ones dropped
    assert (content["version"], content["publishStatus"], content["changedSincePublished"]) == (
        1,
        "DRAFT",
        True,
    )
    assert {f["field"]: f["status"] for f in content["fieldStatus"]}["title"] == "MANUAL"
    assert content["images"] == [{"key": image["key"], "width": 800, "format": "PNG"}]

    again = (await api.data(SAVE, variables, key=key))["listingContentSave"]["listingContent"]
    assert again["version"] == 1, "a save changing nothing makes no version"
    renamed = (await api.data(SAVE, {**variables, "title": "Desk Fan 30 cm White"}, key=key))[
        "listingContentSave"
    ]
    content = renamed["listingContent"]
    assert content["id"] == first["listingContent"]["id"] and content["version"] == 2
    assert content["versions"][0]["changes"] == {"title": ["Desk Fan 30 cm", "Desk Fan 30 cm White"]}
    assert content["versions"][0]["actor"] and content["versions"][1]["version"] == 1

    listed = await api.data(
        'query($v: ID!) { listingContents(filter: {variantId: $v, language: "en"}) { nodes { title } } }',
        {"v": variables["v"]},
        key=key,
    )
    assert listed["listingContents"]["nodes"] == [{"title": "Desk Fan 30 cm White"}]


async def test_bad_content_is_refused_and_changes_nothing(api: Any, shop: Any, tenant_factory: Any) -> None:
    key = shop.tenant.key
    base = {
        "v": encode_id("Variant", shop.variants["SKU-1"]),
        "c": encode_id("ChannelConnection", shop.connections["sg"]),
        "lang": "en",
        "title": "Fan",
    }

    async def refused(**changes: Any) -> list[dict[str, Any]]:
        answer = (await api.data(SAVE, {**base, **changes}, key=key))["listingContentSave"]
        assert answer["listingContent"] is None
        return [{"code": e["code"], "field": e["field"]} for e in answer["userErrors"]]

    assert await refused(lang="English") == [{"code": "INVALID", "field": ["language"]}]
    assert await refused(title="x" * 501) == [{"code": "OUT_OF_RANGE", "field": ["title"]}]
    assert await refused(bullets=["b"] * 11) == [{"code": "OUT_OF_RANGE", "field": ["bullets"]}]
    assert await refused(attrs={"size": {"nested": 1}}) == [
        {"code": "INVALID", "field": ["attributes", "size"]}
    ]
    assert await refused(images=["listing-images/999999/nope.png"]) == [
        {"code": "NOT_FOUND", "field": ["images", "0"]}
    ]
    other = await tenant_factory()
    theirs = (await api.data(UPLOAD, {"d": _png((250, 10, 10))}, key=other.key))["listingImageUpload"][
        "image"
    ]
    assert await refused(images=[theirs["key"]]) == [{"code": "NOT_FOUND", "field": ["images", "0"]}]
    bad = (await api.data(UPLOAD, {"d": base64.b64encode(b"not an image").decode()}, key=key))[
        "listingImageUpload"
    ]
    assert bad["userErrors"] == [{"code": "INVALID", "field": ["data"]}]
    listed = await api.data("{ listingContents { nodes { id } } }", key=key)
    assert listed["listingContents"]["nodes"] == []


async def test_content_left_queued_is_queued_again_by_the_sweep(api: Any, shop: Any) -> None:
    """A publish job lost (a process stopped) leaves its content QUEUED: the sweep queues it
    again once it has waited a minute, not before."""
    from datetime import timedelta

    from sqlalchemy import update

    from crossdock.db import utcnow
    from crossdock.db.models import ListingContent
    from crossdock.jobs import JOBS

    key = shop.tenant.key
    ids = {
        "v": encode_id("Variant", shop.variants["SKU-1"]),
        "c": encode_id("ChannelConnection", shop.connections["sg"]),
    }
    saved = await api.data(SAVE, {**ids, "lang": "en", "title": "Desk Fan"}, key=key)
    content = saved["listingContentSave"]["listingContent"]["id"]
    queued = await api.data(
        "mutation($i: [ID!]) { listingPublish(input: {ids: $i}) { listingContents { publishStatus } } }",
        {"i": [content]},
        key=key,
    )
    assert queued["listingPublish"]["listingContents"] == [{"publishStatus": "QUEUED"}]
    seen: list[tuple[str, dict[str, Any]]] = []

    class Recorder:
        async def enqueue(self, name: str, *, job_id: str | None = None, **kwargs: Any) -> bool:
            seen.append((name, kwargs))
            return True

        async def ping(self) -> bool:
            return True

    ctx = shop.app.job_context()
    ctx.queue = Recorder()
    await JOBS["listing_publish_sweep"](ctx)
    assert all(kwargs["tenant_id"] != shop.tenant.id for _, kwargs in seen), "not before a minute"
    async with shop.write() as session:
        await session.execute(update(ListingContent).values(updated_at=utcnow() - timedelta(minutes=2)))
    await JOBS["listing_publish_sweep"](ctx)
    mine = [kwargs for name, kwargs in seen if kwargs["tenant_id"] == shop.tenant.id]
    assert [name for name, kwargs in seen if kwargs["tenant_id"] == shop.tenant.id] == ["listing_publish"]
    assert mine[0]["content_id"] == decode_id(content)[1]
