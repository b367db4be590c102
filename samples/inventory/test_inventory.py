"""The inventory sample's contract: middleware, exception handlers and event middleware behave the
same on each (provider, store) cell of the matrix."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

from portafn import HttpResponse
from portafn.testing import Client
from samples.inventory.app import audit

WIDGET = {"sku": "w-1", "name": "Widget", "on_hand": 3}


def test_middleware_wraps_handler_in_registration_order(portafn_client: Client) -> None:
    resp = portafn_client.request("PUT", "/items/w-1", json=WIDGET)
    assert resp.status == 200, resp.text()
    # The first registered is outermost, so its "after" code runs last.
    assert resp.headers.get_list("X-Trail") == ["maintenance", "timing"]
    assert (resp.headers.get("Server-Timing") or "").startswith("app;dur=")


def test_middleware_sees_portafn_own_answers(portafn_client: Client) -> None:
    missing = portafn_client.get("/nowhere")
    assert missing.status == 404
    assert missing.headers.get("content-type") == "application/problem+json"
    assert missing.headers.get_list("X-Trail") == ["maintenance", "timing"]
    invalid = portafn_client.request("PUT", "/items/w-1", json={"sku": "w-1", "on_hand": -1})
    assert invalid.status == 400
    assert invalid.headers.get_list("X-Trail") == ["maintenance", "timing"]


def test_middleware_can_answer_without_the_handler(portafn_client: Client) -> None:
    resp = portafn_client.request(
        "PUT", "/items/w-2", json={**WIDGET, "sku": "w-2"}, headers={"X-Maintenance": "on"}
    )
    assert resp.status == 503
    assert resp.json()["detail"] == "Inventory is in maintenance."
    assert portafn_client.get("/items/w-2").status == 404  # the handler never ran


def test_exception_handler_maps_business_error(portafn_client: Client) -> None:
    assert portafn_client.request("PUT", "/items/w-1", json=WIDGET).status == 200
    resp = portafn_client.post("/items/w-1/reservations", json={"quantity": 5})
    assert resp.status == 409
    assert resp.headers.get("content-type") == "application/problem+json"
    assert {k: resp.json()[k] for k in ("sku", "wanted", "on_hand")} == {
        "sku": "w-1",
        "wanted": 5,
        "on_hand": 3,
    }
    assert resp.headers.get_list("X-Trail") == ["maintenance", "timing"]
    ok = portafn_client.post("/items/w-1/reservations", json={"quantity": 2})
    assert ok.status == 200
    assert ok.json()["on_hand"] == 1


def test_portafn_mapping_still_applies_without_a_handler(portafn_client: Client) -> None:
    resp = portafn_client.post("/items/ghost/reservations", json={"quantity": 1})
    assert resp.status == 404  # NotFound from the store, no handler registered for it
    assert resp.headers.get("content-type") == "application/problem+json"


def test_event_middleware_runs_before_and_after(portafn_client: Client) -> None:
    assert portafn_client.request("PUT", "/items/w-1", json=WIDGET).status == 200
    delivery = portafn_client.send("restocks", {"sku": "w-1", "quantity": 4})
    assert delivery.ok, delivery.errors
    assert portafn_client.get("/items/w-1").json()["on_hand"] == 7
    entries = audit.query("on_restock").items
    assert [(e.phase, e.outcome) for e in entries] == [("after", "ok"), ("before", None)]
    assert entries[0].event_id == entries[1].event_id


def test_event_middleware_sees_failures(portafn_client: Client) -> None:
    delivery = portafn_client.send("restocks", {"sku": "ghost", "quantity": 1})
    assert not delivery.ok
    assert delivery[0].retry
    after = [e for e in audit.query("on_restock").items if e.phase == "after"]
    assert [e.outcome for e in after] == ["NotFound"]


# -- CORS --------------------------------------------------------------------------------------

SHOP = {"Origin": "https://shop.example.com"}


def preflight(client: Client, path: str, method: str, origin: str, headers: str = "") -> HttpResponse:
    asked = {"Access-Control-Request-Headers": headers} if headers else {}
    return client.request(
        "OPTIONS", path, headers={"Origin": origin, "Access-Control-Request-Method": method, **asked}
    )


def test_preflight_is_answered_with_the_grants(portafn_client: Client) -> None:
    resp = preflight(portafn_client, "/items/w-1", "PUT", SHOP["Origin"], "Content-Type, X-Maintenance")
    assert resp.status == 204, resp.text()
    assert resp.headers.get("Access-Control-Allow-Origin") == SHOP["Origin"]
    assert resp.headers.get("Access-Control-Allow-Methods") == "PUT"
    assert resp.headers.get_list("Access-Control-Allow-Headers") == ["content-type", "x-maintenance"]
    assert resp.headers.get("Access-Control-Allow-Credentials") == "true"
    assert resp.headers.get("Access-Control-Max-Age") == "300"
    assert "origin" in [v.lower() for v in resp.headers.get_list("Vary")]


def test_preflight_refusals_are_403_problems(portafn_client: Client) -> None:
    cases = [
        ("https://evil.example", "PUT", ""),  # origin not listed
        (SHOP["Origin"], "PATCH", ""),  # method not allowed
        (SHOP["Origin"], "PUT", "X-Secret"),  # header not allowed
    ]
    for origin, method, headers in cases:
        resp = preflight(portafn_client, "/items/w-1", method, origin, headers)
        assert resp.status == 403, (origin, method, headers)
        assert resp.headers.get("content-type") == "application/problem+json"
        assert resp.headers.get("Access-Control-Allow-Origin") is None


def test_answers_carry_cors_headers_problems_included(portafn_client: Client) -> None:
    ok = portafn_client.request("PUT", "/items/w-1", json=WIDGET, headers=SHOP)
    missing = portafn_client.get("/items/nope", headers=SHOP)
    invalid = portafn_client.request("PUT", "/items/w-1", json={"sku": "w-1"}, headers=SHOP)
    unrouted = portafn_client.get("/nowhere", headers=SHOP)
    for resp, status in ((ok, 200), (missing, 404), (invalid, 400), (unrouted, 404)):
        assert resp.status == status
        assert resp.headers.get("Access-Control-Allow-Origin") == SHOP["Origin"]
        assert resp.headers.get("Access-Control-Allow-Credentials") == "true"
        assert resp.headers.get("Access-Control-Expose-Headers") == "Server-Timing"
    assert missing.headers.get("content-type") == "application/problem+json"


def test_no_cors_headers_for_same_origin_or_unlisted_origins(portafn_client: Client) -> None:
    same = portafn_client.get("/items/nope")
    other = portafn_client.get("/items/nope", headers={"Origin": "https://evil.example"})
    assert same.headers.get("Access-Control-Allow-Origin") is None
    assert other.headers.get("Access-Control-Allow-Origin") is None
    assert "origin" in [v.lower() for v in other.headers.get_list("Vary")]


def test_route_policy_overrides_the_app_policy(portafn_client: Client) -> None:
    public = portafn_client.get("/public/stock/w-1", headers={"Origin": "https://anyone.example"})
    assert public.status == 200
    assert public.json() == {"sku": "w-1", "in_stock": False}
    assert public.headers.get("Access-Control-Allow-Origin") == "*"
    assert public.headers.get("Access-Control-Allow-Credentials") is None
    pre = preflight(portafn_client, "/public/stock/w-1", "GET", "https://anyone.example")
    assert pre.status == 204
    assert pre.headers.get("Access-Control-Allow-Origin") == "*"


def test_route_without_cors_is_closed_to_browsers(portafn_client: Client) -> None:
    pre = preflight(portafn_client, "/items/w-1", "DELETE", SHOP["Origin"])
    assert pre.status == 405  # no policy: not a preflight portafn grants, OPTIONS has no route
    assert pre.headers.get("Access-Control-Allow-Origin") is None
    deleted = portafn_client.request("DELETE", "/items/w-1", headers=SHOP)
    assert deleted.status == 204
    assert deleted.headers.get("Access-Control-Allow-Origin") is None


# -- auth --------------------------------------------------------------------------------------


def test_bearer_token_fills_the_principal(portafn_client: Client, bearer: Any) -> None:
    resp = portafn_client.get("/me", headers=bearer("alice", scope="stock:read orders:write"))
    assert resp.status == 200, resp.text()
    assert resp.json() == {"id": "alice", "scheme": "jwt", "scopes": ["orders:write", "stock:read"]}


def test_missing_or_bad_tokens_are_401_problems(portafn_client: Client, identity: Any) -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(time.time())
    cases = {
        "none": {},
        "not bearer": {"Authorization": "Basic dXNlcjpwYXNz"},
        "garbage": {"Authorization": "Bearer not-a-jwt"},
        "foreign key": {"Authorization": "Bearer " + identity.token(key=stranger)},
        "expired": {"Authorization": "Bearer " + identity.token(exp=now - 600, iat=now - 900)},
        "wrong audience": {"Authorization": "Bearer " + identity.token(aud="billing")},
        "wrong issuer": {"Authorization": "Bearer " + identity.token(iss="https://evil.example/")},
    }
    for why, headers in cases.items():
        resp = portafn_client.get("/me", headers=headers)
        assert resp.status == 401, why
        assert resp.headers.get("content-type") == "application/problem+json", why
        assert resp.headers.get("WWW-Authenticate") == "Bearer", why
        assert "eyJ" not in resp.text(), why  # no token is echoed


def test_missing_scope_is_a_403_problem(portafn_client: Client, bearer: Any) -> None:
    denied = portafn_client.get("/stock-report", headers=bearer("bob", scope="orders:write"))
    assert denied.status == 403
    assert denied.headers.get("content-type") == "application/problem+json"
    assert "stock:read" in denied.json()["detail"]
    allowed = portafn_client.get("/stock-report", headers=bearer("bob", scp=["stock:read"]))
    assert allowed.status == 200
    assert allowed.json() == {"for": "bob"}


def test_the_key_set_is_fetched_once_and_kept(portafn_client: Client, bearer: Any, identity: Any) -> None:
    start = identity.fetches
    for _ in range(5):
        assert portafn_client.get("/me", headers=bearer()).status == 200
    before = identity.fetches
    # At most once per authenticator in the serving process (a process that fetched in an earlier
    # test fetches nothing here; the Azure worker driver starts a worker per store).
    assert before - start <= 2
    for _ in range(5):
        assert portafn_client.get("/me", headers=bearer()).status == 200
    assert identity.fetches == before  # the warm path fetches nothing


def test_api_key_names_the_partner(portafn_client: Client, identity: Any) -> None:
    ok = portafn_client.get("/partners/feed", headers={"X-API-Key": "pk-beta-0002"})
    assert ok.status == 200
    assert ok.json() == {"partner": "partner-b"}
    for headers in ({}, {"X-API-Key": "pk-beta-0003"}, {"X-API-Key": ""}):
        refused = portafn_client.get("/partners/feed", headers=headers)
        assert refused.status == 401
        assert refused.headers.get("content-type") == "application/problem+json"
        assert "pk-beta" not in refused.text()


def test_auth_refusals_carry_cors_headers(portafn_client: Client, identity: Any) -> None:
    resp = portafn_client.get("/me", headers=SHOP)
    assert resp.status == 401
    assert resp.headers.get("Access-Control-Allow-Origin") == SHOP["Origin"]


def test_platform_identity_is_trusted_only_where_the_platform_sets_it(portafn_client: Client) -> None:
    # On Azure, App Service authentication sets X-MS-CLIENT-PRINCIPAL-ID (and strips a client's);
    # anywhere else the same header is just client input and must authenticate nobody.
    resp = portafn_client.get("/staff/me", headers={"X-MS-CLIENT-PRINCIPAL-ID": "staff-7"})
    if portafn_client.provider == "azure":
        assert resp.status == 200
        assert resp.json() == {"id": "staff-7", "scheme": "platform"}
    else:
        assert resp.status == 401
        assert resp.headers.get("content-type") == "application/problem+json"
    assert portafn_client.get("/staff/me").status == 401


# -- async ---------------------------------------------------------------------------------------


def test_async_handlers_share_one_loop_with_start_hooks(portafn_client: Client) -> None:
    totals = []
    for quantity in (1, 2, 3):
        resp = portafn_client.get("/items/w-1/quote", query={"quantity": [str(quantity)]})
        assert resp.status == 200, resp.text()
        totals.append(resp.json()["total_cents"])
    # A new loop per call would make the client opened at start refuse the second call (500).
    assert totals[1] == 2 * totals[0]
    assert totals[2] == 3 * totals[0]


# -- dependencies --------------------------------------------------------------------------------


def test_dependencies_resolve_once_per_request(portafn_client: Client) -> None:
    for _ in range(2):  # a second request resolves afresh: nothing is kept between invocations
        resp = portafn_client.get("/warehouse/items/widget/bin", headers={"X-Warehouse": "eu-1"})
        assert resp.status == 200, resp.text()
        assert resp.json() == {"warehouse": "eu-1", "bin": "eu-1/W", "lookups": 1}


def test_async_dependencies_run_on_the_handlers_loop(portafn_client: Client) -> None:
    for wh, surcharge in (("eu-1", 5), ("us-2", 0)):
        resp = portafn_client.get("/warehouse/items/widget/price", headers={"X-Warehouse": wh})
        # A dependency awaited on another loop would make the start-up client refuse it (500).
        assert resp.status == 200, resp.text()
        body = resp.json()
        assert body["price_cents"] == body["base_cents"] + surcharge
        assert (body["warehouse"], body["lookups"]) == (wh, 1)
    refused = portafn_client.get("/warehouse/items/widget/price", headers={"X-Warehouse": "nowhere"})
    assert refused.status == 400
    assert refused.headers.get("content-type") == "application/problem+json"


def test_a_dependency_can_refuse_the_request(portafn_client: Client) -> None:
    for headers in ({}, {"X-Warehouse": "../etc"}):
        resp = portafn_client.get("/warehouse/items/widget/bin", headers=headers)
        assert resp.status == 400
        assert resp.headers.get("content-type") == "application/problem+json"
        assert "X-Warehouse" in resp.json()["detail"]


# -- OpenAPI -------------------------------------------------------------------------------------


def test_openapi_document_is_served_and_valid(portafn_client: Client) -> None:
    from openapi_spec_validator import validate

    resp = portafn_client.get("/openapi.json")
    assert resp.status == 200
    assert resp.headers.get("content-type") == "application/json"
    document = resp.json()
    validate(document)
    assert document["openapi"] == "3.1.0"
    assert document["info"] == {"title": "Inventory", "version": "1.0.0"}
    reserve = document["paths"]["/items/{sku}/reservations"]["post"]
    assert reserve["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Reservation"
    }
    assert document["paths"]["/stock-report"]["get"]["security"] == [{"bearer": ["stock:read"]}]


def easy_auth(*roles: str) -> str:
    claims = [{"typ": "name", "val": "Staff Seven"}, *({"typ": "roles", "val": r} for r in roles)]
    body = {"auth_typ": "aad", "claims": claims, "name_typ": "name", "role_typ": "roles"}
    return base64.b64encode(json.dumps(body).encode()).decode()


def test_platform_roles_come_from_easy_auth_on_azure_only(portafn_client: Client) -> None:
    admin = {"X-MS-CLIENT-PRINCIPAL-ID": "staff-7", "X-MS-CLIENT-PRINCIPAL": easy_auth("inventory-admin")}
    clerk = {"X-MS-CLIENT-PRINCIPAL-ID": "staff-8", "X-MS-CLIENT-PRINCIPAL": easy_auth("clerk")}
    allowed = portafn_client.get("/staff/adjustments", headers=admin)
    denied = portafn_client.get("/staff/adjustments", headers=clerk)
    if portafn_client.provider == "azure":
        assert allowed.status == 200
        assert allowed.json() == {"id": "staff-7", "roles": ["inventory-admin"]}
        assert denied.status == 403
    else:  # client-sent headers are nobody's identity
        assert (allowed.status, denied.status) == (401, 401)


# -- Google identity (IAP assertions, ID tokens), verified the same on every provider -------------


def hs256_with(secret: bytes, header: dict[str, Any], claims: dict[str, Any]) -> str:
    """A token signed HS256 with ``secret``: the alg-confusion attack, with the public key as secret."""
    import hashlib
    import hmac

    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def test_iap_assertion_fills_the_principal(portafn_client: Client, identity: Any) -> None:
    resp = portafn_client.get("/iap/me", headers={"x-goog-iap-jwt-assertion": identity.iap_token()})
    assert resp.status == 200, resp.text()
    assert resp.json() == {
        "id": "accounts.google.com:1001",
        "scheme": "google_iap",
        "email": "staff@example.com",
    }


def test_bad_iap_assertions_are_401_problems(portafn_client: Client, identity: Any) -> None:
    now = int(time.time())
    forged = hs256_with(
        identity.public_pem("iap"),
        {"alg": "HS256", "kid": "iap1", "typ": "JWT"},
        {"iss": "https://cloud.google.com/iap", "aud": "/projects/123456789/apps/inventory-demo",
         "sub": "accounts.google.com:666", "iat": now, "exp": now + 300},
    )  # fmt: skip
    cases = {
        "missing": None,
        "wrong audience": identity.iap_token(aud="/projects/1/apps/other"),
        "wrong issuer": identity.iap_token(iss="https://accounts.google.com"),
        "expired": identity.iap_token(exp=now - 600, iat=now - 900),
        "alg confusion": forged,
        "not a jwt": "not-a-jwt",
    }
    for why, token in cases.items():
        headers = {} if token is None else {"x-goog-iap-jwt-assertion": token}
        resp = portafn_client.get("/iap/me", headers=headers)
        assert resp.status == 401, (why, resp.text())
        assert resp.headers.get("content-type") == "application/problem+json", why
        assert "eyJ" not in resp.text(), why
    # A bearer token of the shop's issuer is no IAP assertion.
    bearer = {"Authorization": "Bearer " + identity.token()}
    assert portafn_client.get("/iap/me", headers=bearer).status == 401


def test_google_id_token_fills_the_principal(portafn_client: Client, identity: Any) -> None:
    for issuer in ("https://accounts.google.com", "accounts.google.com"):
        token = identity.google_token(iss=issuer)
        resp = portafn_client.post("/jobs/recount", headers={"Authorization": f"Bearer {token}"})
        assert resp.status == 200, (issuer, resp.text())
        assert resp.json() == {
            "id": "1002",
            "scheme": "google_id_token",
            "email": "scheduler@example.iam.gserviceaccount.com",
        }


def test_bad_google_id_tokens_are_401_problems(portafn_client: Client, identity: Any) -> None:
    now = int(time.time())
    forged = hs256_with(
        identity.public_pem("google"),
        {"alg": "HS256", "kid": "g1", "typ": "JWT"},
        {"iss": "https://accounts.google.com", "aud": "https://inventory.example.com", "sub": "666",
         "iat": now, "exp": now + 300},
    )  # fmt: skip
    cases = {
        "missing": None,
        "wrong audience": identity.google_token(aud="https://billing.example.com"),
        "wrong issuer": identity.google_token(iss="https://accounts.google.com.evil.example"),
        "expired": identity.google_token(exp=now - 600, iat=now - 900),
        "alg confusion": forged,
        "the shop's token": identity.token(),  # a valid token, of another issuer and key set
    }
    for why, token in cases.items():
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        resp = portafn_client.post("/jobs/recount", headers=headers)
        assert resp.status == 401, (why, resp.text())
        assert resp.headers.get("content-type") == "application/problem+json", why
        assert resp.headers.get("WWW-Authenticate") == "Bearer", why
        assert "eyJ" not in resp.text(), why


def test_unknown_key_ids_do_not_refetch_the_key_set_per_request(
    portafn_client: Client, identity: Any
) -> None:
    from samples.inventory.conftest import JWKS_PATHS

    good = {"Authorization": "Bearer " + identity.google_token()}
    assert portafn_client.post("/jobs/recount", headers=good).status == 200  # the set is cached now
    before = identity.fetched[JWKS_PATHS["google"]]
    unknown = {"Authorization": "Bearer " + identity.google_token(kid="rotated-or-forged")}
    for _ in range(5):
        resp = portafn_client.post("/jobs/recount", headers=unknown)
        assert resp.status == 401
        assert resp.headers.get("content-type") == "application/problem+json"
    # At most one refetch per interval (60 s by default), however many such tokens arrive.
    assert identity.fetched[JWKS_PATHS["google"]] - before <= 1
    assert portafn_client.post("/jobs/recount", headers=good).status == 200
