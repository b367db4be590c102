"""Google Cloud: a functions-framework source folder and zip, ``deploy.sh``, Firestore indexes and TTL.

Cloud Functions builds the source remotely from ``requirements.txt``, for its own platform; the
workspace's ``portafn`` and ``portafn-gcp`` travel as wheels in ``wheels/`` and are named there by
path. Every other dependency is pinned to the version resolved for the target. ``main.py`` exports
one target per event function and one ``http`` target that routes every HTTP function.
"""

from __future__ import annotations

import hashlib
import math
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from portafn.app import App, Function
from portafn.function_settings import FunctionSettings, settings_of
from portafn.package.build import Artifact, BuildContext, Limits, measure
from portafn.package.common import (
    dns_name,
    dump_json,
    entry_source,
    item_functions,
    pinned_requirements,
    write_file,
    write_source_folder,
)
from portafn.package.errors import UnsupportedSetting
from portafn.package.zipper import tree_files, write_zip
from portafn.settings import app_fields
from portafn.triggers import (
    ChangesTrigger,
    EventTrigger,
    HttpTrigger,
    QueueTrigger,
    ScheduleTrigger,
    StorageTrigger,
    TopicTrigger,
)
from portafn_gcp import settings as gcp_settings
from portafn_gcp.firestore_keys import EXPIRES, PK, SK

NAME = "gcp"
ADAPTER = "portafn-gcp"
STORE_SCHEME = "firestore"
EXCLUDE: tuple[str, ...] = ()
# Cloud Functions quotas: 100 MB compressed sources, 500 MB uncompressed sources plus modules.
LIMITS = Limits(zipped=100 * 1_048_576, unzipped=500 * 1_048_576, source="Cloud Functions quotas")
DEFAULT_ARCH = "x86_64"
ARCHES = ("x86_64",)
ENTRY = "main"
SOURCE = "source"
ZIP = "source.zip"
HTTP_TARGET = "http"
MIN_ACCOUNT_ID, MAX_ACCOUNT_ID = 6, 30  # IAM's bounds on a service account id
# Pub/Sub moves a message to the dead-letter topic after this many failed deliveries (5-100).
MAX_DELIVERY_ATTEMPTS = 5


def glibc(python: str) -> str:
    """The python3xx runtimes run on Ubuntu 22.04 (glibc 2.35); manylinux_2_28 wheels all fit."""
    return "2_28"


def write(ctx: BuildContext) -> list[Artifact]:
    """Write ``source/``, ``source.zip``, ``deploy.sh`` and ``firestore.indexes.json``."""
    folder = ctx.out / SOURCE
    entry = entry_source(
        f"functions-framework targets of {ctx.module}:{ctx.attr} (`http` and one per event function).",
        ["from portafn_gcp import targets", "", f"from {ctx.module} import {ctx.attr} as portafn_app"],
        "globals().update(targets(portafn_app))",
    )
    files: dict[str, bytes] = {f"{ENTRY}.py": entry.encode(), "requirements.txt": requirements(ctx).encode()}
    write_source_folder(ctx, folder, files)
    zip_path = ctx.out / ZIP
    ctx.progress(f"writing {zip_path}")
    write_zip(zip_path, tree_files(folder))
    artifact = measure(zip_path, "Cloud Functions source", LIMITS)
    # The uncompressed limit counts sources plus installed modules.
    artifact.unzipped += sum(p.stat().st_size for _, p in tree_files(ctx.site))
    deploy = write_file(ctx.out / "deploy.sh", deploy_script(ctx))
    deploy.chmod(0o755)
    indexes = write_file(ctx.out / "firestore.indexes.json", dump_json(firestore_indexes(ctx)))
    return [
        artifact,
        Artifact(folder, "source folder"),
        Artifact(deploy, "gcloud deploy script"),
        Artifact(indexes, "Firestore indexes"),
    ]


def requirements(ctx: BuildContext) -> str:
    """Pinned third-party requirements plus the workspace wheels by relative path."""
    return pinned_requirements(ctx, ADAPTER)


def store_settings(ctx: BuildContext) -> tuple[str, str, str]:
    """The deployed store: (``PORTAFN_STORE`` value, collection prefix, database).

    The Firestore store keeps table ``T`` in collection ``<prefix>T`` of database ``database``
    (``firestore://PROJECT?prefix=...&database=...``); a ``firestore://`` store URL given to the
    build keeps its prefix and database, and the project is always the deploy's ``$PROJECT``.
    """
    prefix, database = "", "(default)"
    if ctx.store_url.startswith("firestore://"):
        query = {k: v[-1] for k, v in parse_qs(urlsplit(ctx.store_url).query).items()}
        prefix, database = query.get("prefix", ""), query.get("database") or "(default)"
    params = {k: v for k, v in (("database", database), ("prefix", prefix)) if v and v != "(default)"}
    url = "firestore://$PROJECT" + ("?" + urlencode(params, safe="()") if params else "")
    return url, prefix, database


def firestore_indexes(ctx: BuildContext) -> dict[str, Any]:
    """Composite indexes for the store's partition queries: ``_pk`` ascending with ``_sk``
    ascending and descending, per table collection (prefix included)."""
    pk, sk = PK, SK
    _, prefix, _ = store_settings(ctx)
    indexes = []
    for name, table in sorted(ctx.app.tables.items()):
        if table.spec.sort_key is None:
            continue  # one item per partition: no ordered query, no index
        for order in ("ASCENDING", "DESCENDING"):
            indexes.append(
                {
                    "collectionGroup": prefix + name,
                    "queryScope": "COLLECTION",
                    "fields": [{"fieldPath": pk, "order": "ASCENDING"}, {"fieldPath": sk, "order": order}],
                }
            )
    return {"indexes": indexes, "fieldOverrides": []}


def dead_letter_topic(fn: Function) -> str:
    """The dead-letter topic of an event function (the GCP adapter's convention)."""
    from portafn_gcp.publish import dead_letter_topic as name_of

    return name_of(fn)


def schedule_topic(fn: Function) -> str:
    """The Pub/Sub topic a schedule function's Cloud Scheduler job publishes to."""
    from portafn_gcp.publish import schedule_topic as name_of

    return name_of(fn.name)


def published_topics(app: App) -> list[str]:
    """The topics the app's functions publish to: each ``ctx.publish("<literal>", ...)`` found in
    their code and helpers, plus any in a function's ``options["topics"]`` (``portafn.package.usage``)."""
    from portafn.package.usage import topics_published

    return sorted({topic for fn in app.functions.values() for topic in topics_published(app, fn)})


def _project_flag() -> str:
    return "--project=$PROJECT"


# -- deploy.sh's commands ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Deployment:
    """What every command of one deployment shares: the app and where its store lives."""

    app: App
    runtime: str
    store_url: str
    prefix: str
    database: str

    @classmethod
    def of(cls, ctx: BuildContext) -> Deployment:
        """The deployment ``ctx`` describes."""
        store_url, prefix, database = store_settings(ctx)
        return cls(ctx.app, "python" + ctx.target.python.replace(".", ""), store_url, prefix, database)

    def common(self) -> list[str]:
        """The flags every ``gcloud functions deploy`` takes."""
        return ["--gen2", f"--runtime={self.runtime}", "--region=$REGION", "--source=.", _project_flag()]

    def env(self) -> str:
        """The functions' environment: the store and project (Firestore makes collections on write)."""
        settings = "".join("," + a for a in gcp_settings.env_assignments(app_fields(self.app)))
        return f"--set-env-vars=PORTAFN_STORE={self.store_url},GOOGLE_CLOUD_PROJECT=$PROJECT,PORTAFN_CREATE_TABLES=0{settings}"

    def secret_flags(self) -> list[str]:
        """``--set-secrets`` for the app's secrets (``portafn_gcp.settings``)."""
        return gcp_settings.secret_flags(app_fields(self.app))

    def database_flags(self) -> list[str]:
        """``--database`` for Firestore commands, when the store is not the default database."""
        return [] if self.database == "(default)" else [f"--database={self.database}"]


@dataclass(slots=True)
class Trigger:
    """How one event function is triggered: its deploy flags, the topics it needs, its job."""

    flags: list[str]
    topics: list[str] = field(default_factory=list)
    job: list[str] | None = None


def _topic_trigger(d: Deployment, fn: Function) -> Trigger:
    trigger: Any = fn.trigger
    topic = trigger.queue if isinstance(trigger, QueueTrigger) else trigger.topic
    return Trigger([f"--trigger-topic={topic}"], [topic])


def _schedule_trigger(d: Deployment, fn: Function) -> Trigger:
    # Cloud Scheduler publishes to a topic the function is triggered by.
    trigger: Any = fn.trigger
    topic = schedule_topic(fn)
    job = [
        *("gcloud", "scheduler", "jobs", "create", "pubsub", function_name(d.app, fn)),
        _project_flag(),
        "--location=$REGION",
        f"--schedule={trigger.cron.expression}",
        "--time-zone=Etc/UTC",
        f"--topic={topic}",
        f"--message-body={fn.name}",
    ]
    return Trigger([f"--trigger-topic={topic}"], [topic], job)


def _storage_trigger(d: Deployment, fn: Function) -> Trigger:
    trigger: Any = fn.trigger
    kind = "finalized" if trigger.on == "created" else "deleted"
    return Trigger(
        [
            f"--trigger-event-filters=type=google.cloud.storage.object.v1.{kind}",
            f"--trigger-event-filters=bucket={trigger.bucket}",
        ]
    )


def _changes_trigger(d: Deployment, fn: Function) -> Trigger:
    trigger: Any = fn.trigger
    return Trigger(
        [
            "--trigger-event-filters=type=google.cloud.firestore.document.v1.written",
            f"--trigger-event-filters=database={d.database}",
            f"--trigger-event-filters-path-pattern=document={d.prefix}{trigger.table.name}/{{doc}}",
            "--trigger-location=$FIRESTORE_LOCATION",
        ]
    )


def _event_trigger(d: Deployment, fn: Function) -> Trigger:
    trigger: Any = fn.trigger
    return Trigger([f"--trigger-event-filters=type={trigger.type}"])


TRIGGERS: dict[type, Callable[[Deployment, Function], Trigger]] = {
    QueueTrigger: _topic_trigger,
    TopicTrigger: _topic_trigger,
    ScheduleTrigger: _schedule_trigger,
    StorageTrigger: _storage_trigger,
    ChangesTrigger: _changes_trigger,
    EventTrigger: _event_trigger,
}
"""Trigger type -> how a function with that trigger is wired on Cloud Functions."""

EVENTARC_DIRECT = (StorageTrigger, ChangesTrigger, EventTrigger)
"""Triggers whose events Eventarc routes from the source (not Pub/Sub): their receiver needs
``roles/eventarc.eventReceiver``."""


def trigger_of(d: Deployment, fn: Function) -> Trigger:
    """How ``fn`` is triggered; ``ValueError`` for a trigger Cloud Functions has no wiring for."""
    build = TRIGGERS.get(type(fn.trigger))
    if build is None:
        raise ValueError(f"no GCP trigger for a {type(fn.trigger).__name__}")
    return build(d, fn)


def event_functions(app: App) -> list[Function]:
    """The functions deployed one per Cloud Function (every function but HTTP)."""
    return [fn for fn in item_functions(app) if not isinstance(fn.trigger, HttpTrigger)]


def deploy_commands(ctx: BuildContext) -> list[list[str]]:
    """Each ``gcloud`` command of the deployment, as argv lists (``$VAR`` left for the shell).

    In order: Pub/Sub topics (those functions are triggered by, publish to, schedule through, and
    each event function's dead-letter topic) and a pull subscription on every dead-letter topic
    (so dead letters are kept); one service account per function and the roles it needs
    (``portafn_gcp.package.identities``); Firestore TTL policies and composite indexes; the
    functions (every event function with ``--retry``, so a failure is redelivered, each running
    as its own account); the Cloud Scheduler jobs; then each event function's invoker grant.
    """
    d = Deployment.of(ctx)
    app = ctx.app
    triggers = {fn.name: trigger_of(d, fn) for fn in event_functions(app)}
    dead_letters = sorted({dead_letter_topic(fn) for fn in event_functions(app)})
    topics = set(published_topics(app)).union(*(t.topics for t in triggers.values()))
    ids = identities(app)
    return [
        *(
            ["gcloud", "pubsub", "topics", "create", t, _project_flag()]
            for t in sorted(topics | set(dead_letters))
        ),
        *(_keep_dead_letters(t) for t in dead_letters),
        *(cmd for identity in ids for cmd in identity.grant_commands()),
        *(
            cmd
            for identity in ids
            for cmd in gcp_settings.grant_commands(app_fields(app), identity.member, _project_flag())
        ),
        *_ttl_commands(d),
        *_index_commands(d),
        *_function_commands(d, triggers, ids),
        *(t.job for t in triggers.values() if t.job is not None),
        *(identity.invoker_command() for identity in ids if identity.invoked_by_events),
    ]


def _keep_dead_letters(topic: str) -> list[str]:
    return [
        *("gcloud", "pubsub", "subscriptions", "create", f"{topic}-sub"),
        f"--topic={topic}",
        "--message-retention-duration=7d",
        _project_flag(),
    ]


def _ttl_commands(d: Deployment) -> list[list[str]]:
    return [
        [
            *("gcloud", "firestore", "fields", "ttls", "update", EXPIRES),
            f"--collection-group={d.prefix}{name}",
            "--enable-ttl",
            *d.database_flags(),
            _project_flag(),
        ]
        for name, table in sorted(d.app.tables.items())
        if table.spec.ttl_field is not None
    ]


def _index_commands(d: Deployment) -> list[list[str]]:
    return [
        [
            *("gcloud", "firestore", "indexes", "composite", "create"),
            f"--collection-group={d.prefix}{name}",
            "--query-scope=COLLECTION",
            f"--field-config=field-path={PK},order=ascending",
            f"--field-config=field-path={SK},order={order}",
            *d.database_flags(),
            _project_flag(),
        ]
        for name, table in sorted(d.app.tables.items())
        if table.spec.sort_key is not None
        for order in ("ascending", "descending")
    ]


def _function_commands(d: Deployment, triggers: dict[str, Trigger], ids: list[Identity]) -> list[list[str]]:
    by_function = {identity.function: identity for identity in ids}
    commands: list[list[str]] = []
    if d.app.by_kind("http"):
        identity = by_function[http_function_name(d.app)]
        commands.append(
            [
                *("gcloud", "functions", "deploy", identity.function),
                *d.common(),
                f"--entry-point={HTTP_TARGET}",
                "--trigger-http",
                *http_setting_flags(d.app.by_kind("http")),
                f"--service-account={identity.email}",
                d.env(),
                *d.secret_flags(),
            ]
        )
    for fn in event_functions(d.app):
        identity = by_function[function_name(d.app, fn)]
        # --retry: a raise (retry outcome) is redelivered; without it Eventarc drops a failed event.
        commands.append(
            [
                *("gcloud", "functions", "deploy", identity.function),
                *d.common(),
                f"--entry-point={fn.name}",
                *triggers[fn.name].flags,
                *setting_flags(fn, settings_of(fn), GCF_EVENT_TIMEOUT_S),
                "--retry",
                f"--service-account={identity.email}",
                f"--trigger-service-account={identity.email}",
                d.env(),
                *d.secret_flags(),
            ]
        )
    return commands


GCF_MEMORY_MB = 32_768
GCF_HTTP_TIMEOUT_S = 3_600
GCF_EVENT_TIMEOUT_S = 540


def setting_flags(fn: Function, declared: FunctionSettings, max_timeout: int) -> list[str]:
    """``--memory``, ``--timeout`` and ``--max-instances`` for declared settings;
    ``UnsupportedSetting`` beyond Cloud Functions' (2nd gen) limits."""
    flags: list[str] = []
    if declared.memory is not None:
        if declared.memory > GCF_MEMORY_MB:
            raise UnsupportedSetting(
                "gcp", fn.name, "memory", declared.memory, "Cloud Functions take at most 32 GiB"
            )
        flags.append(f"--memory={declared.memory}Mi")
    if declared.timeout is not None:
        if declared.timeout > max_timeout:
            raise UnsupportedSetting(
                "gcp",
                fn.name,
                "timeout",
                declared.timeout,
                f"a {fn.kind} function runs at most {max_timeout} s",
            )
        flags.append(f"--timeout={math.ceil(declared.timeout)}s")
    if declared.concurrency is not None:
        flags.append(f"--max-instances={declared.concurrency}")
    return flags


def http_setting_flags(fns: list[Function]) -> list[str]:
    """Every HTTP route is served by one Cloud Function: it gets the largest memory and timeout
    and the smallest instance limit they declare, and the auth level they all agree on."""
    declared = [settings_of(fn) for fn in fns]
    levels = {s.auth_level or "anonymous" for s in declared}
    if len(levels) > 1:
        raise UnsupportedSetting(
            "gcp",
            fns[0].name,
            "auth_level",
            sorted(levels),
            "every HTTP route is one Cloud Function, so the routes must declare the same auth_level",
        )
    merged = FunctionSettings(
        memory=max((s.memory for s in declared if s.memory is not None), default=None),
        timeout=max((s.timeout for s in declared if s.timeout is not None), default=None),
        concurrency=min((s.concurrency for s in declared if s.concurrency is not None), default=None),
    )
    owner = max(fns, key=lambda fn: settings_of(fn).timeout or 0.0)
    auth = "--allow-unauthenticated" if levels == {"anonymous"} else "--no-allow-unauthenticated"
    return [auth, *setting_flags(owner, merged, GCF_HTTP_TIMEOUT_S)]


def function_name(app: App, fn: Function) -> str:
    """The Cloud Functions name of an event function."""
    return dns_name(f"{app.name}-{fn.name}")


def http_function_name(app: App) -> str:
    """The Cloud Functions name of the one function that routes every HTTP function of ``app``."""
    return dns_name(f"{app.name}-http")


# -- one service account per function, with only the roles it needs ---------------------------------

DATASTORE_ROLE = "roles/datastore.user"
"""Read and write Firestore documents (project-wide: Firestore has no per-collection IAM)."""
EVENT_RECEIVER_ROLE = "roles/eventarc.eventReceiver"
"""Receive events Eventarc routes straight from their source (Cloud Storage, Firestore, others)."""
PUBLISHER_ROLE = "roles/pubsub.publisher"
"""Publish to one topic (granted on the topic, not the project)."""

_PROJECT_GRANT = ("gcloud", "projects", "add-iam-policy-binding", "$PROJECT")
_TOPIC_GRANT = ("gcloud", "pubsub", "topics", "add-iam-policy-binding")


@dataclass(frozen=True, slots=True)
class Identity:
    """The service account one Cloud Function runs as, and what it is granted.

    Logs need no role: Cloud Functions collects what a function writes to stdout and stderr.
    """

    function: str
    account: str
    project_roles: tuple[str, ...]
    publishes_to: tuple[str, ...]
    invoked_by_events: bool

    @property
    def email(self) -> str:
        """The account's address in the deploy's project."""
        return f"{self.account}@$PROJECT.iam.gserviceaccount.com"

    @property
    def member(self) -> str:
        """The account as an IAM member."""
        return f"serviceAccount:{self.email}"

    def grant_commands(self) -> list[list[str]]:
        """Create the account, then grant its project roles and its topics' publisher role."""
        create = [
            *("gcloud", "iam", "service-accounts", "create", self.account),
            f"--display-name=portafn {self.function}",
            _project_flag(),
        ]
        project = [
            [*_PROJECT_GRANT, f"--member={self.member}", f"--role={role}", "--condition=None"]
            for role in self.project_roles
        ]
        topics = [
            [*_TOPIC_GRANT, topic, f"--member={self.member}", f"--role={PUBLISHER_ROLE}", _project_flag()]
            for topic in self.publishes_to
        ]
        return [create, *project, *topics]

    def invoker_command(self) -> list[str]:
        """Let the account's trigger invoke its function (an event trigger runs as this account)."""
        return [
            *("gcloud", "functions", "add-invoker-policy-binding", self.function),
            "--region=$REGION",
            f"--member={self.member}",
            _project_flag(),
        ]


def identities(app: App) -> list[Identity]:
    """The service account of each Cloud Function: the HTTP one (for every HTTP function), then
    one per event function."""
    out: list[Identity] = []
    http = [fn for fn in item_functions(app) if isinstance(fn.trigger, HttpTrigger)]
    if http:
        out.append(_identity(app, http_function_name(app), http))
    for fn in event_functions(app):
        out.append(_identity(app, function_name(app, fn), [fn]))
    return out


def _identity(app: App, function: str, fns: list[Function]) -> Identity:
    events = [fn for fn in fns if not isinstance(fn.trigger, HttpTrigger)]
    roles = []
    if any(uses_store(app, fn) for fn in fns):
        roles.append(DATASTORE_ROLE)
    if any(isinstance(fn.trigger, EVENTARC_DIRECT) for fn in events):
        roles.append(EVENT_RECEIVER_ROLE)
    topics = {t for fn in fns for t in publishes_to(app, fn)} | {dead_letter_topic(fn) for fn in events}
    return Identity(function, account_id(function), tuple(roles), tuple(sorted(topics)), bool(events))


def uses_store(app: App, fn: Function) -> bool:
    """Whether ``fn`` reaches the store, directly or through the library.

    Directly: its code names one of the app's tables (``portafn.package.usage``). Through the
    library: an ``@idempotent`` handler keeps its records there; event streams and projections
    read and write their tables (``portafn.package.access``); the outbox's relay and sweep read
    and delete records; and a function that publishes in an app with an outbox may stage its
    messages there (``tx=``), which no reading of the code can rule out.
    """
    from portafn.package.access import table_access
    from portafn.package.usage import tables_used, topics_published
    from portafn.reliability.outbox import RELAY_FUNCTION, SWEEP_FUNCTION

    if tables_used(app, fn) or getattr(fn.handler, "__portafn_idempotent__", False):
        return True
    if table_access(app, fn):  # event streams and projections reach tables through the library
        return True
    if fn.name in (RELAY_FUNCTION, SWEEP_FUNCTION):
        return True
    return bool(topics_published(app, fn)) and _has_outbox(app)


def publishes_to(app: App, fn: Function) -> list[str]:
    """The topics ``fn`` publishes on: those its code names, or every one for the outbox's relay
    and sweep (they send what any function staged)."""
    from portafn.package.usage import topics_published
    from portafn.reliability.outbox import RELAY_FUNCTION, SWEEP_FUNCTION

    if fn.name in (RELAY_FUNCTION, SWEEP_FUNCTION):
        return published_topics(app)
    return topics_published(app, fn)


def _has_outbox(app: App) -> bool:
    from portafn.reliability.outbox import Outbox
    from portafn.reliability.publish import PublishError

    try:
        Outbox.of(app)
    except PublishError:
        return False
    return True


def account_id(function: str) -> str:
    """A service account id for a function: 6-30 lowercase letters, digits and hyphens, starting
    with a letter; a long name is cut and given a digest of the whole, so two stay distinct."""
    name = dns_name(function)
    if not name[0].isalpha():
        name = "pf-" + name
    if len(name) > MAX_ACCOUNT_ID:
        digest = hashlib.sha256(function.encode()).hexdigest()[:6]
        name = f"{name[: MAX_ACCOUNT_ID - 7].rstrip('-')}-{digest}"
    return name if len(name) >= MIN_ACCOUNT_ID else f"{name}-runner"


def dead_letter_policy_script(ctx: BuildContext) -> list[str]:
    """Shell lines that give each Pub/Sub-triggered function's subscription a dead-letter policy.

    ``--trigger-topic`` makes Eventarc create the push subscription, so its name is only known
    after the deploy: it is looked up from the function's trigger. Pub/Sub then moves a message
    that failed ``MAX_DELIVERY_ATTEMPTS`` times to the function's dead-letter topic (the same one
    the adapter publishes ``DeadLetter`` messages to); Pub/Sub's service agent needs to publish
    there and to subscribe to the source subscription.
    """
    app = ctx.app
    targets = [
        fn
        for fn in app.functions.values()
        if isinstance(fn.trigger, QueueTrigger | TopicTrigger | ScheduleTrigger)
    ]
    if not targets:
        return []
    lines = [
        "# Dead-letter policies on the Pub/Sub subscriptions Eventarc made for the functions.",
        'PROJECT_NUMBER="$(gcloud projects describe "$PROJECT" --format=\'value(projectNumber)\')"',
        'PUBSUB_AGENT="serviceAccount:service-${PROJECT_NUMBER}@gcp-sa-pubsub.iam.gserviceaccount.com"',
    ]
    for fn in targets:
        name = function_name(app, fn)
        dlt = dead_letter_topic(fn)
        lines += [
            f'TRIGGER="$(gcloud functions describe {shlex.quote(name)} --region="$REGION" '
            '--project="$PROJECT" --format=\'value(eventTrigger.trigger)\')"',
            'SUBSCRIPTION="$(gcloud eventarc triggers describe "$TRIGGER" --location="$REGION" '
            "--format='value(transport.pubsub.subscription)')\"",
            f'gcloud pubsub subscriptions update "$SUBSCRIPTION" --dead-letter-topic={shlex.quote(dlt)} '
            f'--dead-letter-topic-project="$PROJECT" --max-delivery-attempts={MAX_DELIVERY_ATTEMPTS}',
            f"gcloud pubsub topics add-iam-policy-binding {shlex.quote(dlt)} "
            '--member="$PUBSUB_AGENT" --role=roles/pubsub.publisher --project="$PROJECT" >/dev/null',
            'gcloud pubsub subscriptions add-iam-policy-binding "$SUBSCRIPTION" '
            '--member="$PUBSUB_AGENT" --role=roles/pubsub.subscriber >/dev/null',
        ]
    return lines


def deploy_script(ctx: BuildContext) -> str:
    """``deploy.sh``: topics, service accounts and their grants, TTL policies, indexes, every
    function, scheduler jobs, invoker grants, then the dead-letter policies; creating what already
    exists is tolerated, so a re-deploy works."""
    lines = [
        "#!/usr/bin/env bash",
        f"# Deploy {ctx.app.name} to Cloud Functions (2nd gen). Generated by portafn package.",
        "# Usage: PROJECT=my-project REGION=europe-west1 [FIRESTORE_LOCATION=eur3] ./deploy.sh",
        "set -euo pipefail",
        ': "${PROJECT:?set PROJECT}" "${REGION:?set REGION}"',
        *(
            f': "${{{env}:?set {env}, a setting of the app}}"'
            for env in gcp_settings.required_env(app_fields(ctx.app))
        ),
        'FIRESTORE_LOCATION="${FIRESTORE_LOCATION:-$REGION}"',
        'cd "$(dirname "$0")/source"',
        *GRANT_FUNCTION,
    ]
    for argv in deploy_commands(ctx):
        text = " ".join(_quote(a) for a in argv)
        if _is_grant(argv):
            lines.append(f"grant {text}")
        else:
            # Creating what already exists (topics, accounts, indexes, scheduler jobs) is fine.
            lines.append(text + (" || true" if _creates(argv) else ""))
    lines += dead_letter_policy_script(ctx)
    return "\n".join(lines) + "\n"


GRANT_FUNCTION = (
    "# A new service account takes a moment to reach IAM: a grant is tried again before it fails.",
    "grant() {",
    "  local attempt",
    "  for attempt in 1 2 3 4; do",
    '    "$@" >/dev/null && return 0',
    "    sleep $((attempt * 3))",
    "  done",
    '  "$@" >/dev/null',
    "}",
)
"""The shell function ``deploy.sh`` runs each IAM grant through."""


def _is_grant(argv: list[str]) -> bool:
    return bool(_GRANTS & set(argv[2:4]))


def _creates(argv: list[str]) -> bool:
    return argv[3] == "create" or argv[2:5] == ["indexes", "composite", "create"]


_GRANTS = {"add-iam-policy-binding", "add-invoker-policy-binding"}


def _quote(arg: str) -> str:
    # Keep $VARS expandable: double-quote when the argument references the environment.
    if "$" in arg:
        return '"' + arg.replace('"', '\\"') + '"'
    return shlex.quote(arg)
