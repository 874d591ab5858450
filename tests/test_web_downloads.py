"""Downloads of certificates whose CN is not Latin-1 or holds CR/LF (RFC 6266 filename*)."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import unquote

import pytest

from certwarden.composition import App
from certwarden.interfaces.web.downloads import attachment
from tests.conftest import T0
from tests.monitor_helpers import add_cert
from tests.web_support import VIEWER_PASSWORD, WebSetup, asgi_client, login, make_setup

NAMES = {
    "cjk": "证书.example",
    "crlf": "evil\r\nSet-Cookie: x=1",
    "quote": 'a"b/..\\c',
}


@pytest.fixture
def setup(app: App) -> WebSetup:
    return make_setup(app)


@pytest.mark.parametrize("label", sorted(NAMES))
async def test_api_export_and_page_download_name_the_file_safely(
    setup: WebSetup, label: str
) -> None:
    cn = NAMES[label]
    cert_id, _ = add_cert(setup.app, cn, T0 + timedelta(days=60))
    async with asgi_client(setup.web, setup.viewer_token) as api:
        for fmt, ext in (("pem", ".pem"), ("der", ".cer")):
            got = await api.get(f"/api/v1/certificates/{cert_id}/export?format={fmt}")
            assert got.status_code == 200, got.text
            _check_header(got.headers["content-disposition"], cn, ext)
    async with asgi_client(setup.web) as browser:
        await login(browser, "viewer", VIEWER_PASSWORD)
        page = await browser.get(f"/certificates/{cert_id}/download?format=der")
        assert page.status_code == 200, page.text
        _check_header(page.headers["content-disposition"], cn, ".cer")


def _check_header(value: str, cn: str, ext: str) -> None:
    assert "\r" not in value and "\n" not in value
    value.encode("ascii")  # an ASCII header whatever the name
    assert value.startswith('attachment; filename="')
    if "filename*=UTF-8''" in value:
        encoded = value.split("filename*=UTF-8''", 1)[1]
        name = unquote(encoded, encoding="utf-8")
        assert name.endswith(ext)
        assert "/" not in name and '"' not in name and "\r" not in name
        if cn == NAMES["cjk"]:
            assert name == "证书.example" + ext


def test_plain_names_stay_plain() -> None:
    assert attachment("leaf.example.test", ".pem") == 'attachment; filename="leaf.example.test.pem"'
    assert attachment("\r\n", ".pem", fallback="certificate-7") == (
        'attachment; filename="certificate-7.pem"'
    )
