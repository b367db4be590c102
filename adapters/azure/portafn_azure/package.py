"""Azure: a function app folder and zip (v2 programming model) and an ARM template (JSON).

The folder is what Core Tools would publish: ``function_app.py`` (the one-line entry), ``host.json``
with the v4 extension bundle, ``requirements.txt``, ``.funcignore`` and a ``local.settings.json``
example, the user's package, and every dependency built for Linux x86_64 under
``.python_packages/lib/site-packages`` (the path the Python worker adds to ``sys.path``), so the zip
runs with no remote build. ``azuredeploy.json`` creates the plan, the app, its storage account with
the queues and blob containers, and the Cosmos account, database and containers (partition key,
TTL, and the change feed's lease container).

Queues: every Storage queue a queue function listens on, and every topic the app's code publishes
to with a literal name (``ctx.publish("orders", ...)``, found by reading the handlers' bytecode)
that no ``@app.topic`` function takes (those go to Service Bus), each with its ``<queue>-poison``
queue, where the host moves a message after ``maxDequeueCount`` failed attempts and the entry puts
a ``DeadLetter`` at once. ``host.json`` sets those retries (``extensions.queues``).

Event Grid: when the app publishes (by a literal name) to a CloudEvent type that an ``@app.event``
function consumes, ``ctx.publish`` sends it to an Event Grid custom topic
(``portafn_azure.publish``), so the template declares that topic (``Microsoft.EventGrid/topics``,
input schema ``CloudEventSchemaV1_0``) and the app settings ``EventGridTopicEndpoint`` (the topic's
endpoint) and ``EventGridTopicKey`` (from ``listKeys``, never a literal). The event subscription
from the topic to the function is made after the code is deployed (a note says how): Event Grid
checks that an Azure Function destination exists when the subscription is created.
"""

from __future__ import annotations

import math
import shutil
from typing import Any

from portafn.app import App
from portafn.cors import has_route_policies, native_rules
from portafn.function_settings import settings_of
from portafn.package.build import Artifact, BuildContext, Limits, measure
from portafn.package.common import (
    dns_name,
    dump_json,
    entry_source,
    pinned_requirements,
    write_file,
    write_source_folder,
)
from portafn.package.devonly import strip_site
from portafn.package.errors import UnsupportedSetting
from portafn.package.zipper import tree_files, write_zip
from portafn.projections import Projection
from portafn.settings import app_fields
from portafn.triggers import EventTrigger, QueueTrigger, StorageTrigger, TopicTrigger
from portafn_azure import settings as settings_arm
from portafn_azure.cosmos_store import PARTITION_PATH, CosmosStore

NAME = "azure"
ADAPTER = "portafn-azure"
STORE_SCHEME = "cosmos"
EXCLUDE: tuple[str, ...] = ()
# Zip deployment documents no size cap of its own; the Consumption plan's 1 GB of storage is the
# practical ceiling, so that is what packages are checked against.
LIMITS = Limits(
    zipped=1024 * 1_048_576, unzipped=1024 * 1_048_576, source="Functions Consumption plan storage"
)
DEFAULT_ARCH = "x86_64"
ARCHES = ("x86_64",)
ENTRY = "function_app"
FOLDER = "functionapp"
ZIP = "functionapp.zip"
SITE = ".python_packages/lib/site-packages"
LEASES = "leases"
# Storage queue retries: a failed message is retried after visibilityTimeout, and after
# maxDequeueCount attempts the host moves it to <queue>-poison (portafn_azure.outcomes).
# messageEncoding base64 is the host's default, stated because ctx.publish relies on it.
MAX_DEQUEUE_COUNT = 5
VISIBILITY_TIMEOUT = "00:00:30"
HOST_JSON: dict[str, Any] = {
    "version": "2.0",
    "extensionBundle": {"id": "Microsoft.Azure.Functions.ExtensionBundle", "version": "[4.*, 5.0.0)"},
    "logging": {"logLevel": {"default": "Information"}},
    "extensions": {
        "queues": {
            "maxDequeueCount": MAX_DEQUEUE_COUNT,
            "visibilityTimeout": VISIBILITY_TIMEOUT,
            "messageEncoding": "base64",
        }
    },
}
# Event Grid custom topic (portafn_azure.publish reads these settings, as the output binding does).
EVENTGRID_API = "2022-06-15"
EVENTGRID_ENDPOINT_SETTING = "EventGridTopicEndpoint"
EVENTGRID_KEY_SETTING = "EventGridTopicKey"
POISON_SUFFIX = "-poison"
MAX_POISONABLE = 63 - len(POISON_SUFFIX)
FUNCIGNORE = """.git*
.vscode
__pycache__
*.pyc
.venv
local.settings.json
tests
"""


def glibc(python: str) -> str:
    """The Linux Python images are Debian 11/12 (glibc 2.31+)."""
    return "2_28"


def write(ctx: BuildContext) -> list[Artifact]:
    """Write ``functionapp/``, ``functionapp.zip`` and ``azuredeploy.json``."""
    folder = ctx.out / FOLDER
    entry = entry_source(
        f"The Azure Functions app of {ctx.module}:{ctx.attr} (v2 programming model).",
        ["from portafn_azure import function_app", "", f"from {ctx.module} import {ctx.attr} as portafn_app"],
        "app = function_app(portafn_app)",
    )
    files: dict[str, bytes] = {
        f"{ENTRY}.py": entry.encode(),
        "host.json": dump_json(host_json(ctx.app)),
        "requirements.txt": requirements(ctx).encode(),
        ".funcignore": FUNCIGNORE.encode(),
        "local.settings.json": dump_json(local_settings()),
    }
    write_source_folder(ctx, folder, files)
    shutil.copytree(ctx.site, folder / SITE)
    strip_site(folder / SITE)  # test stand-ins (the Cosmos server and its proxy, Azurite) never ship
    zip_path = ctx.out / ZIP
    ctx.progress(f"writing {zip_path}")
    # local.settings.json is for `func start` only; publishing never ships it.
    write_zip(zip_path, [(a, p) for a, p in tree_files(folder) if a != "local.settings.json"])
    template = write_file(ctx.out / "azuredeploy.json", dump_json(arm_template(ctx)))
    return [
        measure(zip_path, "function app package", LIMITS),
        Artifact(folder, "function app folder"),
        Artifact(template, "ARM template"),
    ]


def requirements(ctx: BuildContext) -> str:
    """Pinned requirements; the workspace's own wheels by relative path (for a remote build)."""
    return pinned_requirements(ctx, ADAPTER)


def local_settings() -> dict[str, Any]:
    """An example ``local.settings.json`` for ``func start`` against Azurite and a local Cosmos."""
    return {
        "IsEncrypted": False,
        "Values": {
            "FUNCTIONS_WORKER_RUNTIME": "python",
            "AzureWebJobsStorage": "UseDevelopmentStorage=true",
            "AzureWebJobsFeatureFlags": "EnableWorkerIndexing",
            "PORTAFN_STORE": "cosmos://localhost:8081/portafn",
            # The Cosmos DB trigger's connection, and the key the portafn store signs with.
            "CosmosDBConnection": "AccountEndpoint=https://localhost:8081/;AccountKey=REPLACE_ME",
            "PORTAFN_COSMOS_KEY": "REPLACE_ME",
        },
    }


# ARM expressions every builder below shares.
STORAGE_API = "2023-01-01"
COSMOS_API = "2024-05-15"
WEB_API = "2023-12-01"
STORAGE_ID = "resourceId('Microsoft.Storage/storageAccounts', variables('storageName'))"
COSMOS_ID = "resourceId('Microsoft.DocumentDB/databaseAccounts', variables('cosmosName'))"
SITE_ID = "resourceId('Microsoft.Web/sites', parameters('appName'))"
PRINCIPAL_ID = f"reference({SITE_ID}, '{WEB_API}', 'full').identity.principalId"
AUTHORIZATION_API = "2022-04-01"
COSMOS_CONNECTION = "CosmosDBConnection"
EVENTGRID_CONNECTION = "EventGridConnection"
# Built-in role ids (Azure RBAC and Cosmos DB data plane), as Microsoft documents them.
STORAGE_ROLES = {
    "Storage Blob Data Owner": "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",
    "Storage Queue Data Contributor": "974c5e8b-45b9-4653-ba55-5f855dd0fb88",
    "Storage Queue Data Message Processor": "8a0f0c08-91a1-4084-bc3d-661d67233fed",
}
EVENTGRID_DATA_SENDER = "d5a91429-5739-47e2-a06b-3470a27159e7"
COSMOS_DATA_CONTRIBUTOR = "00000000-0000-0000-0000-000000000002"
DATABASE_ID = (
    "resourceId('Microsoft.DocumentDB/databaseAccounts/sqlDatabases', variables('cosmosName'), 'portafn')"
)
GRID_ID = "resourceId('Microsoft.EventGrid/topics', variables('eventGridTopicName'))"
PLAN_ID = "resourceId('Microsoft.Web/serverfarms', format('{0}-plan', parameters('appName')))"
SITE_NAME = "parameters('appName')"


def arm_template(ctx: BuildContext) -> dict[str, Any]:
    """The ARM template: storage (queues, containers), Cosmos (database, containers), plan and app."""
    app = ctx.app
    grid_types = eventgrid_targets(app)
    resources = [storage_account(), cosmos_account(), cosmos_database(), *cosmos_containers(app)]
    resources += storage_queue_resources(ctx)
    resources += blob_containers(app)
    note_messaging(ctx, grid_types)
    if grid_types:
        resources.append(eventgrid_topic())
    site = function_site(ctx.target.python, app_settings(grid_types), grid=bool(grid_types))
    if (cors := site_cors(app)) is not None:
        site["properties"]["siteConfig"]["cors"] = cors
    if (limit := consumption_limits(app)[1]) is not None:
        site["properties"]["siteConfig"]["functionAppScaleLimit"] = limit
    resources += [plan(), site]
    resources += identity_role_assignments(grid=bool(grid_types))
    variables = {
        "storageName": "[format('{0}st', toLower(replace(parameters('appName'), '-', '')))]",
        "cosmosName": "[format('{0}-cosmos', toLower(parameters('appName')))]",
    }
    if grid_types:
        variables["eventGridTopicName"] = "[format('{0}-events', parameters('appName'))]"
    template = {
        "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
        "contentVersion": "1.0.0.0",
        "metadata": {"description": f"portafn app {app.name} (generated by portafn package)"},
        "parameters": {
            "appName": {"type": "string", "defaultValue": dns_name(app.name, 40)},
            "location": {"type": "string", "defaultValue": "[resourceGroup().location]"},
        },
        "variables": variables,
        "resources": resources,
        "outputs": {
            "functionAppHost": {
                "type": "string",
                "value": f"[reference(resourceId('Microsoft.Web/sites', {SITE_NAME}), '{WEB_API}').defaultHostName]",
            }
        },
    }
    # Settings and Key Vault references (portafn_azure.settings), added to the built template.
    site_id = f"resourceId('Microsoft.Web/sites', {SITE_NAME})"
    return settings_arm.apply(template, app_fields(app), site_id, WEB_API)


CONSUMPTION_TIMEOUT_S = 600
CONSUMPTION_MEMORY_MB = 1536


def consumption_limits(app: App) -> tuple[float | None, int | None]:
    """The app-wide ``functionTimeout`` (the longest declared) and scale limit (the smallest
    declared concurrency) on the Consumption plan, which sets both per app, not per function;
    ``UnsupportedSetting`` for what the plan cannot give (over 10 minutes, over 1.5 GB)."""
    timeouts: list[float] = []
    limits: list[int] = []
    for fn in app.functions.values():
        declared = settings_of(fn)
        if declared.timeout is not None:
            if declared.timeout > CONSUMPTION_TIMEOUT_S:
                raise UnsupportedSetting(
                    "azure",
                    fn.name,
                    "timeout",
                    declared.timeout,
                    "the Consumption plan runs at most 10 minutes",
                )
            timeouts.append(declared.timeout)
        if declared.memory is not None and declared.memory > CONSUMPTION_MEMORY_MB:
            raise UnsupportedSetting(
                "azure", fn.name, "memory", declared.memory, "Consumption plan instances have 1.5 GB"
            )
        if declared.concurrency is not None:
            limits.append(declared.concurrency)
    return (max(timeouts) if timeouts else None), (min(limits) if limits else None)


def host_json(app: App) -> dict[str, Any]:
    """``host.json``, with ``functionTimeout`` when a function declares a timeout."""
    timeout = consumption_limits(app)[0]
    if timeout is None:
        return HOST_JSON
    seconds = math.ceil(timeout)
    return {
        **HOST_JSON,
        "functionTimeout": f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}",
    }


def site_cors(app: App) -> dict[str, Any] | None:
    """App Service CORS from the app's policy (origins and credentials: all App Service can say).

    App Service answers preflights before the app and its rules win, so it is set only when one
    app-wide policy exists; with per-route policies portafn answers every preflight itself.
    """
    rules = native_rules(app)
    if rules is None or has_route_policies(app):
        return None
    return {"allowedOrigins": rules["allow_origins"], "supportCredentials": rules["allow_credentials"]}


def storage_account() -> dict[str, Any]:
    """The app's Storage account (the host's own storage, queues and blob containers)."""
    return {
        "type": "Microsoft.Storage/storageAccounts",
        "apiVersion": STORAGE_API,
        "name": "[variables('storageName')]",
        "location": "[parameters('location')]",
        "sku": {"name": "Standard_LRS"},
        "kind": "StorageV2",
        "properties": {"minimumTlsVersion": "TLS1_2", "allowBlobPublicAccess": False},
    }


def cosmos_account() -> dict[str, Any]:
    """A serverless Cosmos DB account."""
    return {
        "type": "Microsoft.DocumentDB/databaseAccounts",
        "apiVersion": COSMOS_API,
        "name": "[variables('cosmosName')]",
        "location": "[parameters('location')]",
        "kind": "GlobalDocumentDB",
        "properties": {
            "databaseAccountOfferType": "Standard",
            "locations": [{"locationName": "[parameters('location')]", "failoverPriority": 0}],
            "capabilities": [{"name": "EnableServerless"}],
            # Entra ID only: the account keys cannot sign requests (the app uses its identity).
            "disableLocalAuth": True,
        },
    }


def cosmos_database() -> dict[str, Any]:
    """The ``portafn`` database (the packaged store URL's)."""
    return {
        "type": "Microsoft.DocumentDB/databaseAccounts/sqlDatabases",
        "apiVersion": COSMOS_API,
        "name": "[format('{0}/portafn', variables('cosmosName'))]",
        "dependsOn": [f"[{COSMOS_ID}]"],
        "properties": {"resource": {"id": "portafn"}},
    }


def cosmos_containers(app: App) -> list[dict[str, Any]]:
    """One container per table (TTL on where the table has a TTL field), and the change feed's
    lease container when a function watches changes. Projections' checkpoint tables are left out:
    on Cosmos DB a projection attaches its positions to its view's partitions instead."""
    idle = Projection.idle_tables(app, CosmosStore.capabilities)
    containers = [
        (name, PARTITION_PATH, table.spec.ttl_field is not None)
        for name, table in app.tables.items()
        if name not in idle
    ]
    if app.by_kind("changes"):
        containers.append((LEASES, "/id", False))
    resources = []
    for name, path, ttl in sorted(containers):
        resource: dict[str, Any] = {"id": name, "partitionKey": {"paths": [path], "kind": "Hash"}}
        if ttl:
            # -1: TTL on, items live until their own `ttl` says otherwise.
            resource["defaultTtl"] = -1
        resources.append(
            {
                "type": "Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers",
                "apiVersion": COSMOS_API,
                "name": f"[format('{{0}}/portafn/{name}', variables('cosmosName'))]",
                "dependsOn": [f"[{DATABASE_ID}]"],
                "properties": {"resource": resource},
            }
        )
    return resources


def storage_queue_resources(ctx: BuildContext) -> list[dict[str, Any]]:
    """The Storage queues (``storage_queues``); a note for each queue too long to be poisoned."""
    resources = []
    for queue in storage_queues(ctx.app):
        if len(queue) > MAX_POISONABLE and not queue.endswith(POISON_SUFFIX):
            ctx.notes.append(
                f"queue {queue!r} is longer than {MAX_POISONABLE} characters: the host cannot make its "
                "poison queue, so failed messages cannot be poisoned; use a shorter name"
            )
        resources.append(_storage_child("queueServices/queues", queue))
    return resources


def blob_containers(app: App) -> list[dict[str, Any]]:
    """One blob container per bucket a storage function watches."""
    buckets = {
        dns_name(f.trigger.bucket) for f in app.functions.values() if isinstance(f.trigger, StorageTrigger)
    }
    return [_storage_child("blobServices/containers", bucket) for bucket in sorted(buckets)]


def _storage_child(kind: str, name: str) -> dict[str, Any]:
    return {
        "type": f"Microsoft.Storage/storageAccounts/{kind}",
        "apiVersion": STORAGE_API,
        "name": f"[format('{{0}}/default/{name}', variables('storageName'))]",
        "dependsOn": [f"[{STORAGE_ID}]"],
    }


def _installed(ctx: BuildContext, distribution: str) -> bool:
    return any(r.split("==")[0].lower() == distribution for r in ctx.installed)


def note_messaging(ctx: BuildContext, grid_types: list[str]) -> None:
    """Notes for what the template cannot make or the build lacks: a Service Bus namespace for
    topic functions, the SDKs ``ctx.publish`` needs, and the Event Grid subscriptions."""
    app = ctx.app
    topics = sorted({f.trigger.topic for f in app.functions.values() if isinstance(f.trigger, TopicTrigger)})
    if topics:
        ctx.notes.append("topic functions need a Service Bus namespace and topic; see docs/packaging.md")
    to_servicebus = sorted(set(topics) & published_topics(app))
    if to_servicebus and not _installed(ctx, "azure-servicebus"):
        ctx.notes.append(
            f"the app publishes to Service Bus topics ({', '.join(to_servicebus)}): add azure-servicebus "
            "to a requirements file given to `portafn package` (portafn-azure's servicebus extra)"
        )
    if not grid_types:
        return
    ctx.notes.append(
        f"the app publishes to Event Grid ({', '.join(grid_types)}): after deploying the code, "
        "subscribe each event function to the topic: az eventgrid event-subscription create "
        "--source-resource-id <topic id> --name <function> --endpoint-type azurefunction "
        "--endpoint <app id>/functions/<function> --event-delivery-schema cloudeventschemav1_0 "
        "--included-event-types <type>"
    )
    if not _installed(ctx, "azure-eventgrid"):
        ctx.notes.append(
            f"the app publishes to Event Grid ({', '.join(grid_types)}): add azure-eventgrid to a "
            "requirements file given to `portafn package` (portafn-azure's eventgrid extra)"
        )


def eventgrid_topic() -> dict[str, Any]:
    """The Event Grid custom topic ``ctx.publish`` sends CloudEvents to."""
    return {
        "type": "Microsoft.EventGrid/topics",
        "apiVersion": EVENTGRID_API,
        "name": "[variables('eventGridTopicName')]",
        "location": "[parameters('location')]",
        # ctx.publish sends CloudEvents 1.0; the Event Grid trigger takes that schema.
        "properties": {"inputSchema": "CloudEventSchemaV1_0", "publicNetworkAccess": "Enabled"},
    }


def plan() -> dict[str, Any]:
    """The Linux Consumption plan (Y1)."""
    return {
        "type": "Microsoft.Web/serverfarms",
        "apiVersion": WEB_API,
        "name": "[format('{0}-plan', parameters('appName'))]",
        "location": "[parameters('location')]",
        "sku": {"name": "Y1", "tier": "Dynamic"},
        "kind": "functionapp",
        "properties": {"reserved": True},
    }


def app_settings(grid_types: list[str]) -> list[dict[str, str]]:
    """The function app's settings: no account key anywhere. The host's storage, the Cosmos DB
    trigger, the portafn store and the Event Grid topic are all reached with the app's
    system-assigned managed identity (``identity_role_assignments`` grants what each needs)."""
    cosmos_endpoint = f"reference({COSMOS_ID}, '{COSMOS_API}').documentEndpoint"
    settings = [
        {"name": "FUNCTIONS_EXTENSION_VERSION", "value": "~4"},
        {"name": "FUNCTIONS_WORKER_RUNTIME", "value": "python"},
        # Identity-based host storage (queue and blob triggers, timers' leases, ctx.publish to
        # queues): the account name only; the host and portafn_azure.publish use the identity.
        {"name": "AzureWebJobsStorage__accountName", "value": "[variables('storageName')]"},
        {"name": "AzureWebJobsFeatureFlags", "value": "EnableWorkerIndexing"},
        {"name": "SCM_DO_BUILD_DURING_DEPLOYMENT", "value": "false"},
        {
            "name": "PORTAFN_STORE",
            "value": "[format('cosmos://{0}.documents.azure.com/portafn', variables('cosmosName'))]",
        },
        # The template creates the containers; no create-if-missing round trips on cold starts.
        {"name": "PORTAFN_CREATE_TABLES", "value": "0"},
        # The Cosmos DB trigger's identity-based connection (portafn_azure.function_app's default
        # name); the portafn store, with no PORTAFN_COSMOS_KEY, signs in with the identity too.
        {"name": f"{COSMOS_CONNECTION}__accountEndpoint", "value": f"[{cosmos_endpoint}]"},
    ]
    if grid_types:
        settings.append(
            {
                "name": f"{EVENTGRID_CONNECTION}__topicEndpointUri",
                "value": f"[reference({GRID_ID}, '{EVENTGRID_API}').endpoint]",
            }
        )
    return settings


def identity_role_assignments(*, grid: bool) -> list[dict[str, Any]]:
    """What the app's managed identity may do, each role scoped to the one resource it is for:
    the storage roles identity-based ``AzureWebJobsStorage`` needs for blob and queue triggers,
    Cosmos DB's built-in Data Contributor on the ``portafn`` database only (data plane RBAC), and
    EventGrid Data Sender on the app's topic."""
    storage_scope = "[format('Microsoft.Storage/storageAccounts/{0}', variables('storageName'))]"
    resources = [
        _role_assignment(STORAGE_ID, storage_scope, role, name) for name, role in STORAGE_ROLES.items()
    ]
    if grid:
        grid_scope = "[format('Microsoft.EventGrid/topics/{0}', variables('eventGridTopicName'))]"
        resources.append(
            _role_assignment(GRID_ID, grid_scope, EVENTGRID_DATA_SENDER, "EventGrid Data Sender")
        )
    resources.append(
        {
            "type": "Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments",
            "apiVersion": COSMOS_API,
            "name": f"[format('{{0}}/{{1}}', variables('cosmosName'), guid({DATABASE_ID}, {SITE_ID}, "
            f"'{COSMOS_DATA_CONTRIBUTOR}'))]",
            "dependsOn": [f"[{SITE_ID}]", f"[{DATABASE_ID}]"],
            "properties": {
                "roleDefinitionId": "[resourceId('Microsoft.DocumentDB/databaseAccounts/sqlRoleDefinitions', "
                f"variables('cosmosName'), '{COSMOS_DATA_CONTRIBUTOR}')]",
                "principalId": f"[{PRINCIPAL_ID}]",
                "scope": f"[format('{{0}}/dbs/portafn', {COSMOS_ID})]",
            },
        }
    )
    return resources


def _role_assignment(scope_id: str, scope: str, role: str, description: str) -> dict[str, Any]:
    """An Azure RBAC role assignment of ``role`` to the app's identity on one resource (``scope``,
    the resource ``scope_id`` names, in the extension resource's relative form)."""
    return {
        "type": "Microsoft.Authorization/roleAssignments",
        "apiVersion": AUTHORIZATION_API,
        "name": f"[guid({scope_id}, {SITE_ID}, '{role}')]",
        "scope": scope,
        "dependsOn": [f"[{SITE_ID}]", f"[{scope_id}]"],
        "properties": {
            "description": f"{description} for the function app's managed identity",
            "roleDefinitionId": f"[subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '{role}')]",
            "principalId": f"[{PRINCIPAL_ID}]",
            "principalType": "ServicePrincipal",
        },
    }


def function_site(python: str, settings: list[dict[str, str]], *, grid: bool) -> dict[str, Any]:
    """The Linux function app on the plan, with its settings."""
    depends = [f"[{PLAN_ID}]", f"[{STORAGE_ID}]", f"[{COSMOS_ID}]"]
    if grid:
        depends.append(f"[{GRID_ID}]")
    return {
        "type": "Microsoft.Web/sites",
        "apiVersion": WEB_API,
        "name": f"[{SITE_NAME}]",
        "location": "[parameters('location')]",
        "kind": "functionapp,linux",
        "identity": {"type": "SystemAssigned"},
        "dependsOn": depends,
        "properties": {
            "serverFarmId": f"[{PLAN_ID}]",
            "httpsOnly": True,
            "siteConfig": {
                "linuxFxVersion": f"Python|{python}",
                "minTlsVersion": "1.2",
                "appSettings": settings,
            },
        },
    }


def storage_queues(app: App) -> list[str]:
    """The Storage queues the app needs, sorted: each queue function's queue and each topic it
    publishes to that no topic function takes, each followed by its ``<queue>-poison`` queue."""
    topics = {f.trigger.topic for f in app.functions.values() if isinstance(f.trigger, TopicTrigger)}
    names = {dns_name(f.trigger.queue) for f in app.functions.values() if isinstance(f.trigger, QueueTrigger)}
    grid = set(eventgrid_targets(app))
    names |= {dns_name(t) for t in published_topics(app) if t not in topics and t not in grid}
    # The host names the poison queue <queue>-poison; past 56 characters that is no valid queue
    # name, so such a queue gets none (arm_template notes it).
    return sorted(names | {n + POISON_SUFFIX for n in names if len(n) <= MAX_POISONABLE})


def eventgrid_targets(app: App) -> list[str]:
    """The published topics ``ctx.publish`` sends to Event Grid, sorted: those an ``@app.event``
    function consumes as its CloudEvent type and no topic or queue function takes (those come
    first, as in ``portafn_azure.publish.AzurePublisher.route``). A ``type=`` given to
    ``ctx.publish`` is not read from the code; ``options["topics"]`` can name it."""
    functions = list(app.functions.values())
    event_types = {f.trigger.type for f in functions if isinstance(f.trigger, EventTrigger)}
    taken = {f.trigger.topic for f in functions if isinstance(f.trigger, TopicTrigger)}
    taken |= {f.trigger.queue for f in functions if isinstance(f.trigger, QueueTrigger)}
    return sorted(t for t in published_topics(app) & event_types if t not in taken)


def published_topics(app: App) -> set[str]:
    """The topics the app's functions publish to by a literal name (or a module-level str
    constant): ``ctx.publish("orders", ...)`` in a handler or a helper of the same package, plus
    each function's ``options["topics"]`` (``portafn.package.usage``)."""
    from portafn.package.usage import topics_published

    return {topic for fn in app.functions.values() for topic in topics_published(app, fn)}
