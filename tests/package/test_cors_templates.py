"""CORS in the templates: the platform's own CORS says what the app's policy says, or the
platform routes preflights to portafn where it cannot say it (per-route policies)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from portafn import App
from portafn.cors import CORS
from portafn.package.build import BuildContext
from portafn.package.wheels import Target
from samples.inventory.app import app as inventory

PYTHON = "3.12"


def context(app: App, tmp_path: Path) -> BuildContext:
    return BuildContext(
        app=app,
        module="m",
        attr="app",
        target=Target(PYTHON, "x86_64"),
        out=tmp_path,
        work=tmp_path,
        site=tmp_path,
        source=[],
        installed=[],
        wheels=[],
        progress=lambda line: None,
    )


def app_wide() -> App:
    app = App(
        "shop",
        cors=CORS(
            ["https://shop.example.com", "https://admin.example.com"],
            allow_methods=["GET", "POST"],
            allow_headers=["content-type"],
            expose_headers=["etag"],
            allow_credentials=True,
            max_age=120,
        ),
    )

    @app.http("GET", "/things/{tid}")
    def get_thing(tid: str) -> str:
        return tid

    @app.http("POST", "/things/{tid}")
    def post_thing(tid: str) -> str:
        return tid

    return app


def test_sam_http_api_cors_is_the_app_policy(tmp_path: Path) -> None:
    from portafn_aws.package import sam_template

    template = sam_template(context(app_wide(), tmp_path))
    assert template["Globals"]["HttpApi"]["CorsConfiguration"] == {
        "AllowOrigins": ["https://shop.example.com", "https://admin.example.com"],
        "AllowMethods": ["GET", "POST"],
        "AllowHeaders": ["content-type"],
        "AllowCredentials": True,
        "ExposeHeaders": ["etag"],
        "MaxAge": 120,
    }
    events = [
        r["Properties"]["Events"]
        for r in template["Resources"].values()
        if "Events" in r.get("Properties", {})
    ]
    assert all("Preflight" not in e for e in events)  # API Gateway answers preflights itself


def test_sam_routes_preflights_to_portafn_for_per_route_policies(tmp_path: Path) -> None:
    from portafn_aws.package import sam_template

    template = sam_template(context(inventory, tmp_path))
    assert "Globals" not in template
    preflights = {
        name: r["Properties"]["Events"]["Preflight"]["Properties"]
        for name, r in template["Resources"].items()
        if "Preflight" in r.get("Properties", {}).get("Events", {})
    }
    assert preflights == {
        "PutItemFunction": {"Path": "/items/{sku}", "Method": "OPTIONS"},
        "ReserveFunction": {"Path": "/items/{sku}/reservations", "Method": "OPTIONS"},
        "PublicStockFunction": {"Path": "/public/stock/{sku}", "Method": "OPTIONS"},
        "MeFunction": {"Path": "/me", "Method": "OPTIONS"},
        "StockReportFunction": {"Path": "/stock-report", "Method": "OPTIONS"},
        "PartnerFeedFunction": {"Path": "/partners/feed", "Method": "OPTIONS"},
        "StaffMeFunction": {"Path": "/staff/me", "Method": "OPTIONS"},
        "StaffAdjustmentsFunction": {"Path": "/staff/adjustments", "Method": "OPTIONS"},
        "IapMeFunction": {"Path": "/iap/me", "Method": "OPTIONS"},
        "RecountFunction": {"Path": "/jobs/recount", "Method": "OPTIONS"},
        "QuoteFunction": {"Path": "/items/{sku}/quote", "Method": "OPTIONS"},
        "ItemBinFunction": {"Path": "/warehouse/items/{sku}/bin", "Method": "OPTIONS"},
        "ItemPriceFunction": {"Path": "/warehouse/items/{sku}/price", "Method": "OPTIONS"},
        "OpenapiFunction": {"Path": "/openapi.json", "Method": "OPTIONS"},
    }


def test_arm_app_service_cors_is_the_app_policy(tmp_path: Path) -> None:
    from portafn_azure.package import arm_template

    sites = [
        r
        for r in arm_template(context(app_wide(), tmp_path))["resources"]
        if r["type"] == "Microsoft.Web/sites"
    ]
    assert sites[0]["properties"]["siteConfig"]["cors"] == {
        "allowedOrigins": ["https://shop.example.com", "https://admin.example.com"],
        "supportCredentials": True,
    }
    per_route = arm_template(context(inventory, tmp_path))["resources"]
    assert all(
        "cors" not in r["properties"].get("siteConfig", {})
        for r in per_route
        if r["type"] == "Microsoft.Web/sites"
    )


@pytest.mark.parametrize("app", [app_wide(), inventory], ids=["app-wide", "per-route"])
def test_azure_functions_take_options_where_portafn_answers_preflights(app: App) -> None:
    from portafn_azure import function_app

    methods: dict[str, Any] = {}
    for f in function_app(app).get_functions():
        binding = json.loads(f.get_function_json())["bindings"][0]
        if binding["type"] == "httpTrigger":
            methods[f.get_function_name()] = sorted(binding.get("methods") or [])
    if app is inventory:
        assert methods["put_item"] == ["OPTIONS", "PUT"]
        assert methods["get_item"] == ["GET"]  # one function per route takes OPTIONS
        assert methods["delete_item"] == ["DELETE"]
        assert methods["public_stock"] == ["GET", "OPTIONS"]
    else:
        assert methods == {"get_thing": ["GET", "OPTIONS"], "post_thing": ["POST"]}


def test_sam_emits_the_http_api_jwt_authorizer_when_asked(tmp_path: Path) -> None:
    from portafn_aws.package import sam_template

    from portafn.auth.bearer import BearerJWT

    native = BearerJWT("https://id.example/jwks", issuer="https://id.example/", audience="shop", native=True)
    app = App("shop", auth=native)

    @app.http("GET", "/orders")
    def orders() -> str:
        return ""

    @app.http("GET", "/health", auth=False)
    def health() -> str:
        return ""

    @app.http(
        "GET", "/local", auth=BearerJWT("https://id.example/jwks", issuer="https://id.example/", audience="x")
    )
    def local_only() -> str:
        return ""

    template = sam_template(context(app, tmp_path))
    assert template["Globals"]["HttpApi"]["Auth"] == {
        "Authorizers": {
            "PortafnJwt1": {
                "JwtConfiguration": {"issuer": "https://id.example/", "audience": ["shop"]},
                "IdentitySource": "$request.header.Authorization",
            }
        }
    }
    events = {
        n: r["Properties"]["Events"]["Http"]["Properties"]
        for n, r in template["Resources"].items()
        if n.endswith("Function")
    }
    assert events["OrdersFunction"]["Auth"] == {"Authorizer": "PortafnJwt1"}
    assert "Auth" not in events["HealthFunction"]
    assert "Auth" not in events["LocalOnlyFunction"]  # native=False: portafn alone verifies
