"""/docs and /redoc work offline: every script, stylesheet and icon they load is served by
the app itself, never by another host (a CDN)."""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import pytest
from httpx import AsyncClient

KINDS = {"script": "javascript", "stylesheet": "text/css", "icon": "image/"}


class Assets(HTMLParser):
    """(kind, URL) of every <script src> and <link href> of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "script" and a.get("src"):
            self.found.append(("script", a["src"] or ""))
        elif tag == "link" and a.get("href"):
            rel = (a.get("rel") or "").lower()
            self.found.append(("icon" if "icon" in rel else "stylesheet", a["href"] or ""))


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_docs_pages_load_every_asset_from_the_app(client: AsyncClient, page: str) -> None:
    r = await client.get(page)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    parser = Assets()
    parser.feed(r.text)
    kinds = {kind for kind, _ in parser.found}
    assert "script" in kinds and "icon" in kinds
    for kind, url in parser.found:
        absolute = urljoin(str(r.url), url)
        assert urlsplit(absolute).netloc == "test", f"{page} loads {url} from another host"
        asset = await client.get(absolute)
        assert asset.status_code == 200, url
        assert KINDS[kind] in asset.headers["content-type"], (url, asset.headers["content-type"])
        assert len(asset.content) > 1000, url


async def test_swagger_ui_uses_no_outside_validator_and_keeps_the_key(client: AsyncClient) -> None:
    html = (await client.get("/docs")).text
    assert '"validatorUrl": null' in html
    assert '"persistAuthorization": true' in html
    assert "/openapi.json" in html


async def test_docs_pages_stay_out_of_the_openapi_document(client: AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert not [p for p in paths if p.startswith(("/docs", "/redoc"))]
