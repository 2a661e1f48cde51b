"""The customer billing page (``portal/``): its files and the ``config.json`` it reads, served by
the local stack under ``/portal/`` on the API's port (with the development sign-in and
localstripe's Stripe.js), and uploaded to S3 by ``scripts/deploy_portal.py`` (with the Cognito
hosted UI and Stripe's own Stripe.js). docs/portal.md says how the page uses them."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from billing.domain.errors import ErrorCode
from devstack.api_gateway import GatewayResponse, gateway_error

PAGE_FILES = Path(__file__).resolve().parents[2] / "portal"
CONFIG = "config.json"
"""What the page reads first, beside its files: where the API is, how to sign in, Stripe.js."""
LOCAL_PATH = "/portal"
"""Where the local stack serves the page: ``http://127.0.0.1:3000/portal/``."""
LOCALSTRIPE_JS = "/js.stripe.com/v3/"
"""Where localstripe serves its Stripe.js stand-in (`devstack.localstripe_server`); Stripe's own
is https://js.stripe.com/v3/."""
PAYPAL_RETURN = "?paypal=return"
PAYPAL_CANCEL = "?paypal=cancel"
"""What PayPal's return and cancel URLs add to the page's address (the template's
``PayPalReturnUrl`` and ``PayPalCancelUrl``): the page then saves the approved account, or says
the customer cancelled."""
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
}


@dataclass(frozen=True)
class PageConfig:
    """The page's ``config.json``."""

    api_url: str
    stripe_js_url: str
    stripe_publishable_key: str
    sign_in: Mapping[str, str]
    """``{"kind": "development", "token_url"}`` locally, ``{"kind": "cognito", "domain",
    "client_id", "redirect_uri"}`` in AWS."""

    def text(self) -> str:
        return json.dumps(
            {
                "api_url": self.api_url,
                "stripe_js_url": self.stripe_js_url,
                "stripe_publishable_key": self.stripe_publishable_key,
                "sign_in": dict(self.sign_in),
            },
            indent=2,
        )


def development_sign_in(api_url: str) -> dict[str, str]:
    """A form that picks an account and asks the local stack for its token (``/_dev/token``)."""
    return {"kind": "development", "token_url": f"{api_url}/_dev/token"}


def cognito_sign_in(domain: str, client_id: str, redirect_uri: str) -> dict[str, str]:
    """The user pool's hosted UI (``domain``: ``https://<prefix>.auth.<region>.amazoncognito.com``),
    authorization code with PKCE, back to the page's own address."""
    return {
        "kind": "cognito",
        "domain": domain,
        "client_id": client_id,
        "redirect_uri": redirect_uri,
    }


def page_parameters(page_url: str) -> dict[str, str]:
    """The template parameters that name the page (`page_url`, without its final ``/``): where
    emails link and where PayPal sends the customer back."""
    return {
        "CustomerPortalUrl": page_url,
        "PayPalReturnUrl": f"{page_url}/{PAYPAL_RETURN}",
        "PayPalCancelUrl": f"{page_url}/{PAYPAL_CANCEL}",
    }


def page_files(root: Path = PAGE_FILES) -> Iterator[tuple[str, Path, str]]:
    """Every file of the page: its path under the page's address, the file, its content type."""
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.suffix in CONTENT_TYPES:
            yield path.relative_to(root).as_posix(), path, CONTENT_TYPES[path.suffix]


@dataclass(frozen=True)
class LocalPage:
    """The page as the local API's server answers it: ``GET /portal/…``."""

    config: PageConfig
    root: Path = PAGE_FILES

    def answer(self, path: str) -> GatewayResponse | None:
        """The answer to a GET of `path`, or None when it is not the page's."""
        if path == LOCAL_PATH:
            return GatewayResponse(301, {"Location": f"{LOCAL_PATH}/"}, "")
        if not path.startswith(f"{LOCAL_PATH}/"):
            return None
        name = path.removeprefix(f"{LOCAL_PATH}/") or "index.html"
        if name == CONFIG:
            return GatewayResponse(200, _no_cache(CONTENT_TYPES[".json"]), self.config.text())
        files = {key: (file, kind) for key, file, kind in page_files(self.root)}
        found = files.get(str(PurePosixPath(name)))
        if found is None:
            return gateway_error(404, ErrorCode.NOT_FOUND, f"The page has no {name}.")
        file, kind = found
        return GatewayResponse(200, _no_cache(kind), file.read_text(encoding="utf-8"))


def _no_cache(content_type: str) -> dict[str, Any]:
    """As the files are uploaded to S3: revalidated on every load, so an edit shows at once."""
    return {"Content-Type": content_type, "Cache-Control": "no-cache"}
