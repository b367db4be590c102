"""Every decorator registers its trigger; every registration error names the function."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from portafn import (
    App,
    Change,
    Context,
    Event,
    HttpRequest,
    Message,
    RegistrationError,
    Schedule,
    StorageEvent,
)
from portafn.triggers import (
    ChangesTrigger,
    EventTrigger,
    HttpTrigger,
    QueueTrigger,
    ScheduleTrigger,
    StorageTrigger,
    TopicTrigger,
)


class Item(BaseModel):
    id: str
    n: int = 0


def test_each_decorator_registers_its_trigger() -> None:
    app = App("t")
    table = app.table(Item, partition_key="id")

    @app.http("GET", "/items/{id}")
    def get_item(id: str) -> None: ...

    @app.queue("jobs")
    def on_job(msg: Message[Item]) -> None: ...

    @app.topic("news")
    def on_news(msg: Message[str], ctx: Context) -> None: ...

    @app.schedule("*/5 * * * *")
    def tick(ev: Schedule) -> None: ...

    @app.storage("uploads", on="deleted")
    def gone(ev: StorageEvent) -> None: ...

    @app.changes(table)
    def changed(c: Change[Item]) -> None: ...

    @app.event("com.example.thing")
    def thing(ev: Event[dict[str, int]]) -> None: ...

    kinds = {name: type(fn.trigger) for name, fn in app.functions.items()}
    assert kinds == {
        "get_item": HttpTrigger,
        "on_job": QueueTrigger,
        "on_news": TopicTrigger,
        "tick": ScheduleTrigger,
        "gone": StorageTrigger,
        "changed": ChangesTrigger,
        "thing": EventTrigger,
    }
    assert app.functions["gone"].trigger == StorageTrigger("uploads", "deleted")
    assert app.by_kind("queue")[0].name == "on_job"
    # The decorator returns the function unchanged, so it stays callable and testable directly.
    assert get_item("x") is None


def test_duplicate_route() -> None:
    app = App("t")

    @app.http("GET", "/a/{x}")
    def first(x: str) -> None: ...

    with pytest.raises(RegistrationError) as err:

        @app.http("GET", "/a/{y}")
        def second(y: str) -> None: ...

    assert err.value.function == "second"
    assert "first" in str(err.value)


def test_same_path_other_method_is_fine() -> None:
    app = App("t")

    @app.http("GET", "/a")
    def read() -> None: ...

    @app.http("POST", "/a")
    def write() -> None: ...

    assert len(app.router.routes) == 2


@pytest.mark.parametrize(
    "path",
    ["no-slash", "/a//b", "/a/{}", "/a/{x", "/a/x{y}", "/a/{x}/{x}", "/a/{rest+}/b", "/a b"],
)
def test_malformed_path_template(path: str) -> None:
    app = App("t")
    with pytest.raises(RegistrationError, match="handler"):

        @app.http("GET", path)
        def handler() -> None: ...


@pytest.mark.parametrize(
    "cron",
    [
        "* * * *",
        "0 0 0 * * *",
        "60 * * * *",
        "* 24 * * *",
        "* * 0 * *",
        "* * * 13 *",
        "* * * * 8",
        "*/0 * * * *",
        "5-1 * * * *",
        "x * * * *",
    ],
)
def test_bad_cron(cron: str) -> None:
    app = App("t")
    with pytest.raises(RegistrationError, match="nightly"):

        @app.schedule(cron)
        def nightly(ev: Schedule) -> None: ...


def test_unbindable_parameters_name_the_function() -> None:
    app = App("t")
    with pytest.raises(RegistrationError, match="no_annotation"):

        @app.http("GET", "/a")
        def no_annotation(x) -> None: ...  # type: ignore[no-untyped-def]

    with pytest.raises(RegistrationError, match="two_bodies"):

        @app.http("POST", "/b")
        def two_bodies(a: Item, b: Item) -> None: ...

    with pytest.raises(RegistrationError, match="missing_path"):

        @app.http("GET", "/c/{id}")
        def missing_path() -> None: ...

    with pytest.raises(RegistrationError, match="wrong_event"):

        @app.queue("q")
        def wrong_event(ev: Schedule) -> None: ...

    with pytest.raises(RegistrationError, match="no_event"):

        @app.schedule("0 0 * * *")
        def no_event(ctx: Context) -> None: ...

    with pytest.raises(RegistrationError, match="varargs"):

        @app.http("GET", "/d")
        def varargs(*args: str) -> None: ...

    with pytest.raises(RegistrationError, match="request_in_queue"):

        @app.queue("q")
        def request_in_queue(req: HttpRequest) -> None: ...


def test_bad_names_and_resources() -> None:
    app = App("t")
    with pytest.raises(RegistrationError, match="bad queue"):

        @app.queue("bad queue", name="bad queue")
        def f(m: Message[str]) -> None: ...

    with pytest.raises(RegistrationError, match="on_x"):

        @app.storage("b", on="changed")  # type: ignore[arg-type]
        def on_x(ev: StorageEvent) -> None: ...

    with pytest.raises(RegistrationError, match="evt"):

        @app.event("has space")
        def evt(ev: Event[dict[str, int]]) -> None: ...

    with pytest.raises(RegistrationError, match="unknown HTTP method"):

        @app.http("FETCH", "/x")
        def fetch() -> None: ...


def test_duplicate_function_name() -> None:
    app = App("t")

    @app.queue("a", name="same")
    def one(m: Message[str]) -> None: ...

    with pytest.raises(RegistrationError, match="already has a function named 'same'"):

        @app.queue("b", name="same")
        def two(m: Message[str]) -> None: ...


def test_changes_requires_this_apps_table() -> None:
    other = App("other").table(Item, partition_key="id")
    app = App("t")
    with pytest.raises(RegistrationError, match="on_change"):

        @app.changes(other)
        def on_change(c: Change[Item]) -> None: ...


def test_on_start_registers_hook() -> None:
    app = App("t")

    @app.on_start
    def warm() -> None: ...

    assert app.start_hooks == [warm]
