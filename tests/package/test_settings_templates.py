"""Per-function settings: each provider's template honours them, and what it cannot honour is
refused at packaging with the function, the value and the limit named."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from portafn import App, Message, RegistrationError, Schedule
from portafn.package.errors import UnsupportedSetting
from tests.package.test_cors_templates import context


def make_app(**http: Any) -> App:
    app = App("tuned")
    report_settings = {"memory": 2048, "timeout": 120, "concurrency": 5, **http}

    @app.http("POST", "/reports", **report_settings)
    def report() -> None: ...

    @app.http("GET", "/health")
    def health() -> None: ...

    @app.queue("imports", memory=1024, timeout=300)
    def imports(msg: Message[dict[str, Any]]) -> None: ...

    @app.schedule("0 2 * * *", timeout=90, concurrency=1)
    def nightly(ev: Schedule) -> None: ...

    return app


def test_sam_functions_take_their_settings(tmp_path: Path) -> None:
    from portafn_aws.package import sam_template

    res = sam_template(context(make_app(), tmp_path))["Resources"]
    props = {
        name: res[f"{name}Function"]["Properties"] for name in ("Report", "Health", "Imports", "Nightly")
    }
    assert (props["Report"]["MemorySize"], props["Report"]["Timeout"]) == (2048, 120)
    assert props["Report"]["ReservedConcurrentExecutions"] == 5
    assert (props["Health"]["MemorySize"], props["Health"]["Timeout"]) == (512, 30)  # the defaults
    assert "ReservedConcurrentExecutions" not in props["Health"]
    assert (props["Imports"]["MemorySize"], props["Imports"]["Timeout"]) == (1024, 300)
    assert res["ImportsQueue"]["Properties"]["VisibilityTimeout"] == 1800  # 6x the function's timeout


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"memory": 10_241}, "memory=10241"),
        ({"timeout": 901}, "timeout=901"),
        ({"auth_level": "function"}, "auth_level"),
    ],
)
def test_sam_refuses_what_lambda_cannot_honour(tmp_path: Path, settings: dict[str, Any], named: str) -> None:
    from portafn_aws.package import sam_template

    with pytest.raises(UnsupportedSetting, match=named) as err:
        sam_template(context(make_app(**settings), tmp_path))
    assert "'report'" in str(err.value)


def test_azure_host_and_site_take_the_app_wide_settings(tmp_path: Path) -> None:
    from portafn_azure.package import arm_template, host_json

    app = make_app(auth_level="function", memory=1536)
    assert host_json(app)["functionTimeout"] == "00:05:00"  # the longest declared: 300 s
    site = next(
        r for r in arm_template(context(app, tmp_path))["resources"] if r["type"] == "Microsoft.Web/sites"
    )
    assert site["properties"]["siteConfig"]["functionAppScaleLimit"] == 1


def test_azure_refuses_over_ten_minutes_or_over_1_5_gb_on_consumption(tmp_path: Path) -> None:
    from portafn_azure.package import host_json

    with pytest.raises(UnsupportedSetting, match="memory=2048"):
        host_json(make_app())

    app = App("slow")

    @app.queue("big", timeout=601)
    def big(msg: Message[dict[str, Any]]) -> None: ...

    with pytest.raises(UnsupportedSetting, match="10 minutes"):
        host_json(app)


def test_azure_functions_take_their_auth_level() -> None:
    from portafn_azure import function_app

    levels = {}
    for f in function_app(make_app(auth_level="function", memory=1536)).get_functions():
        binding = json.loads(f.get_function_json())["bindings"][0]
        if binding["type"] == "httpTrigger":
            levels[f.get_function_name()] = str(binding.get("authLevel")).lower()
    assert levels["report"].endswith("function")
    assert levels["health"].endswith("anonymous")


def test_gcp_deploy_flags_follow_the_settings(tmp_path: Path) -> None:
    from portafn_gcp import package as gcp

    deploys = [
        a for a in gcp.deploy_commands(context(make_app(), tmp_path)) if a[1:3] == ["functions", "deploy"]
    ]
    http = next(a for a in deploys if "--trigger-http" in a)
    assert {"--allow-unauthenticated", "--memory=2048Mi", "--timeout=120s", "--max-instances=5"} <= set(http)
    imports = next(a for a in deploys if "--entry-point=imports" in a)
    assert {"--memory=1024Mi", "--timeout=300s"} <= set(imports)


def test_gcp_refuses_http_routes_that_disagree_on_auth_level(tmp_path: Path) -> None:
    from portafn_gcp import package as gcp

    with pytest.raises(UnsupportedSetting, match="same auth_level"):
        gcp.deploy_commands(context(make_app(auth_level="function"), tmp_path))


def test_gcp_refuses_an_event_timeout_over_nine_minutes(tmp_path: Path) -> None:
    from portafn_gcp import package as gcp

    app = App("slow")

    @app.queue("big", timeout=541)
    def big(msg: Message[dict[str, Any]]) -> None: ...

    with pytest.raises(UnsupportedSetting, match="540"):
        gcp.deploy_commands(context(app, tmp_path))


@pytest.mark.parametrize(
    "settings",
    [
        {"memory": 64},
        {"memory": "1GB"},
        {"timeout": 0},
        {"concurrency": -1},
        {"auth_level": "public"},
        {"cpu": 2},
    ],
)
def test_bad_settings_are_refused_at_registration(settings: dict[str, Any]) -> None:
    app = App("bad")
    with pytest.raises(RegistrationError, match=r"memory|timeout|concurrency|auth_level|unknown settings"):
        app.http("GET", "/x", name="x", **settings)(lambda: None)


def test_auth_level_is_for_http_only() -> None:
    app = App("bad")

    def q(msg: Message[dict[str, Any]]) -> None: ...

    with pytest.raises(RegistrationError, match="HTTP functions only"):
        app.queue("q", auth_level="function")(q)
