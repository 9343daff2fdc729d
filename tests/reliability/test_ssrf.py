"""SSRF, table-driven, through the whole library: registration and connection time.

Each case is an endpoint URL and what DNS answers for its host. At **registration**
(``subscribe`` and ``update_subscription`` on a dispatcher with the default policy) every
case is refused and nothing is stored. At **connection** the same URLs are planted straight
into the store, as if the policy had been looser when they were registered, and a real worker
with each real transport must record a blocked attempt without opening a socket. DNS
rebinding is played by an injected resolver whose answer turns hostile after registration.

Only 127.0.0.0/8 is ever a real connection target (a loopback listener that must see no
connection); everything else is checked without a socket, which the loopback-only guard of
the conftest enforces.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import anyio
import pytest

from acadio_webhooks.adapters.clock import FakeClock
from acadio_webhooks.adapters.resolver import StaticResolver
from acadio_webhooks.adapters.storage.sql import SqlStore
from acadio_webhooks.dispatcher import Dispatcher
from acadio_webhooks.domain.endpoints import EndpointPolicy
from acadio_webhooks.domain.models import Subscription
from acadio_webhooks.errors import InvalidEndpoint
from acadio_webhooks.worker import AsyncWorker, SyncWorker, WorkerSettings
from tests.reliability.hostile import HostileServer, Listener, answer
from tests.reliability.worlds import (
    ASYNC_TRANSPORTS,
    SECRET,
    Figures,
    all_deliveries,
    async_transport,
    sync_transport,
    timeouts,
)

DEFAULT = EndpointPolicy()
PUBLIC = ["93.184.216.34"]
FINE = "fine.example.com"  # the one host in these tests that resolves to a public address


@dataclass(frozen=True)
class Case:
    """An endpoint URL (``{port}`` is the loopback listener's port), the DNS answer for its
    host (None: the name is unknown), and what the refusal must say."""

    url: str
    problem: str
    answers: tuple[str, ...] | None = None

    def resolved(self, port: int) -> str:
        return self.url.format(port=port)


def url_case(url: str, problem: str) -> Case:
    return Case(url, problem)


def dns_case(url: str, answers: list[str], problem: str) -> Case:
    return Case(url, problem, tuple(answers))


CASES = [
    # Numeric IPv4 spellings of loopback and of the metadata service.
    url_case("https://2130706433:{port}/hook", "loopback address"),
    url_case("https://0177.0.0.1:{port}/hook", "loopback address"),
    url_case("https://0x7f.0.0.1:{port}/hook", "loopback address"),
    url_case("https://0x7f000001.:{port}/hook", "loopback address"),
    url_case("https://127.1./hook", "loopback address"),
    url_case("https://127.0.0.1:{port}/hook", "loopback address"),
    url_case("https://127\u30020\u30020\u30021/hook", "loopback address"),  # ideographic dots
    url_case("https://\uff11\uff12\uff17.\uff10.\uff10.\uff11/hook", "loopback address"),
    url_case("https://\u2460\u2461\u2466.\u24ea.\u24ea.\u2460/hook", "loopback address"),  # circled
    url_case("https://0251.0376.0251.0376/latest/meta-data/", "cloud metadata service"),
    url_case("https://0xa9.0xfe.0xa9.0xfe/latest/meta-data/", "cloud metadata service"),
    url_case("https://169.254.43518/latest/meta-data/", "cloud metadata service"),
    url_case("https://2852039166/latest/meta-data/", "cloud metadata service"),
    url_case("https://0/hook", "unspecified"),
    url_case("https://0.0.0.0.:{port}/hook", "unspecified"),
    # IPv6 loopback, mapped and embedded forms.
    url_case("https://[::1]:{port}/hook", "loopback address"),
    url_case("https://[0:0:0:0:0:0:0:1]/hook", "loopback address"),
    url_case("https://[::ffff:127.0.0.1]:{port}/hook", "IPv4-mapped IPv6 address embedding"),
    url_case("https://[0:0:0:0:0:ffff:7f00:0001]/hook", "IPv4-mapped IPv6 address embedding"),
    url_case("https://[::ffff:127.0.0.1%25lo]/hook", "IPv4-mapped IPv6 address embedding"),
    url_case("https://[::127.0.0.1]/hook", "IPv4-compatible"),
    url_case("https://[::ffff:a9fe:a9fe]/", "cloud metadata service"),
    url_case("https://[64:ff9b::a9fe:a9fe]/", "cloud metadata service"),
    url_case("https://[2002:7f00:1::]/hook", "6to4 IPv6 address embedding 127.0.0.1"),
    url_case("https://[fd00:ec2::254]/", "cloud metadata service"),
    url_case("https://[fe80::1%25eth0]/hook", "link-local"),
    url_case("https://[::]/hook", "unspecified"),
    # localhost, however spelled.
    url_case("https://localhost:{port}/hook", "loopback name"),
    url_case("HTTPS://LOCALHOST./hook", "loopback name"),
    url_case("https://LocalHost.:{port}/hook", "loopback name"),
    url_case(
        "https://\u24db\u24de\u24d2\u24d0\u24db\u24d7\u24de\u24e2\u24e3/hook", "loopback name"
    ),
    url_case("https://api.localhost./hook", "loopback name"),
    url_case("https://ip6-loopback/hook", "loopback name"),
    url_case("https://localhost.localdomain/hook", "loopback name"),
    url_case("https://localhost../hook", "invalid host name"),
    # userinfo and other parser-confusion tricks.
    url_case("https://hooks.example.com@127.0.0.1:{port}/hook", "userinfo"),
    url_case("https://hooks.example.com:443@127.0.0.1/hook", "userinfo"),
    url_case("https://@127.0.0.1/hook", "userinfo"),
    url_case("https://127.0.0.1%2f@hooks.example.com/hook", "userinfo"),
    url_case("https://hooks.example.com%40127.0.0.1/hook", "percent-encoded"),
    url_case("https://hooks.example.com\\@127.0.0.1/hook", "backslash"),
    url_case("https://127.0.0.1:{port}#@hooks.example.com/hook", "fragment"),
    url_case("https://127.0.0.1\t/hook", "whitespace"),
    # Ports.
    url_case("https://hooks.example.com:0/hook", "invalid port"),
    url_case("https://hooks.example.com:65536/hook", "invalid port"),
    url_case("https://hooks.example.com:443:443/hook", "invalid host name"),
    url_case("https://hooks.example.com:+443/hook", "invalid port"),
    # Metadata and local-only names.
    url_case("https://metadata.google.internal./computeMetadata/v1/", "metadata service name"),
    url_case("https://metadata.goog/", "metadata service name"),
    url_case("https://instance-data.ec2.internal/latest/", "metadata service name"),
    url_case("https://metadata/", "metadata service name"),
    url_case("https://db.internal/hook", "reserved for local networks"),
    url_case("https://intranet:{port}/hook", "single-label name"),
    # Scheme.
    url_case("http://hooks.example.com/hook", "scheme must be https"),
    url_case("http://127.0.0.1:{port}/hook", "scheme must be https"),
    # Fine URLs whose names resolve to forbidden addresses (one name per case).
    dns_case("https://127.0.0.1.nip.io:{port}/hook", ["127.0.0.1"], "loopback address"),
    dns_case("https://localtest.me/hook", ["127.0.0.1", "::1"], "loopback address"),
    dns_case("https://hooks.example.com:{port}/hook", ["127.0.0.1"], "loopback address"),
    dns_case("https://v6-loopback.example.com/hook", ["::1"], "loopback address"),
    dns_case("https://mapped.example.com/hook", ["::ffff:127.0.0.1"], "IPv4-mapped"),
    dns_case("https://imds.example.com/hook", ["169.254.169.254"], "cloud metadata service"),
    dns_case("https://imds6.example.com/hook", ["fd00:ec2::254"], "cloud metadata service"),
    dns_case("https://nat64.example.com/hook", ["64:ff9b::7f00:1"], "NAT64"),
    dns_case("https://zero.example.com/hook", ["0.0.0.0"], "unspecified"),
    dns_case("https://mixed.example.com/hook", ["93.184.216.34", "10.0.0.7"], "private address"),
    dns_case("https://lan.example.com/hook", ["192.168.1.1"], "private address"),
    dns_case("https://cgnat.example.com/hook", ["100.64.0.1"], "carrier-grade NAT"),
    dns_case("https://linklocal.example.com/hook", ["fe80::1"], "link-local"),
    dns_case("https://dotted.example.com./hook", ["10.1.1.1"], "private address"),
    dns_case("https://UPPER.Example.com:{port}/hook", ["127.0.0.2"], "loopback address"),
    dns_case("https://b\u00fccher.example.com/hook", ["127.0.0.1"], "loopback address"),  # IDN
    dns_case("https://ideo\u3002example\u3002com/hook", ["127.0.0.1"], "loopback address"),
    dns_case("https://kubernetes.default.svc/hook", ["10.96.0.1"], "private address"),
    dns_case("https://empty.example.com/hook", [], "does not resolve"),
    url_case("https://unknown.example.com/hook", "does not resolve"),
]
CASE_IDS = [f"{n:02d}" for n in range(len(CASES))]


def host_of(url: str) -> str:
    """The normalised host the resolver is asked about."""
    return EndpointPolicy(allow_insecure=True).check_url(url).host


def resolver_for(cases: list[Case], port: int) -> StaticResolver:
    resolver = StaticResolver({FINE: PUBLIC})
    hosts = [host_of(case.resolved(port)) for case in cases if case.answers is not None]
    assert len(hosts) == len(set(hosts)), "each DNS case needs a name of its own"
    for case in cases:
        if case.answers is not None:
            resolver.set(host_of(case.resolved(port)), case.answers)
    return resolver


@pytest.fixture(scope="module")
def listener() -> Iterator[Listener]:
    """The loopback service SSRF would reach: it must never see a connection."""
    server = HostileServer()
    yield server.add("internal-admin", answer(200, b"internal secrets"))
    server.close()


# -- registration ------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_registration_refuses_the_endpoint_and_stores_nothing(
    case: Case, tmp_path: Path, listener: Listener, figures: Figures
) -> None:
    url = case.resolved(listener.port)
    dispatcher = Dispatcher(
        SqlStore(tmp_path / "ssrf.db"), resolver=resolver_for([case], listener.port)
    )
    integration = dispatcher.integrations.install("acme", secret=SECRET)
    fine = dispatcher.integrations.subscribe(integration.id, "course/*", f"https://{FINE}/")

    with pytest.raises(InvalidEndpoint) as on_subscribe:
        dispatcher.integrations.subscribe(integration.id, "course/*", url)
    with pytest.raises(InvalidEndpoint) as on_update:
        dispatcher.integrations.update_subscription(fine.id, endpoint=url)

    assert case.problem in str(on_subscribe.value)
    assert case.problem in str(on_update.value)
    assert dispatcher.integrations.subscriptions(integration.id) == [fine]
    assert listener.connections == 0
    dispatcher.close()
    figures.add("ssrf", registration_cases=1, refused=1, sockets_opened=0)


# The registration above resolves once through the StaticResolver; PUBLIC answers only ever
# go to the policy, never to a socket.
def test_the_table_covers_every_kind_of_trick() -> None:
    problems = {case.problem for case in CASES}
    assert {"userinfo", "loopback name", "metadata service name", "invalid port"} <= problems
    assert sum(case.answers is not None for case in CASES) >= 15


# -- connection time ---------------------------------------------------------------------------


def planted_world(
    tmp_path: Path, cases: list[Case], port: int
) -> tuple[SqlStore, FakeClock, dict[str, Case]]:
    """A store holding one subscription per case, planted without the registration check
    (nor the model's own URL validation); returns which subscription plays which case."""
    store = SqlStore(tmp_path / "planted.db")
    clock = FakeClock()
    dispatcher = Dispatcher(store, clock=clock, resolver=StaticResolver({FINE: PUBLIC}))
    integration = dispatcher.integrations.install("acme", secret=SECRET)
    planted_cases = {}
    for number, case in enumerate(cases):
        planted = Subscription.model_construct(
            id=f"sub_planted_{number:03d}",
            integration_id=integration.id,
            pattern="course/*",
            endpoint=case.resolved(port),
            active=True,
            disabled_reason=None,
            consecutive_failures=0,
            failing_since=None,
            created_at=clock.now(),
        )
        store.add_subscription(planted)
        planted_cases[planted.id] = case
    dispatcher.emit("course/completion/create", {"n": 1}, tenant="acme")
    return store, clock, planted_cases


def run_worker(kind: str, store: SqlStore, clock: FakeClock, resolver: StaticResolver) -> None:
    options = {"resolver": resolver, "timeouts": timeouts(2.0)}
    settings = WorkerSettings(concurrency=32, batch_size=200)
    if kind == "httpx":
        with sync_transport(**options) as transport:
            SyncWorker(store, transport, clock=clock, settings=settings).drain()
        return

    async def drain() -> None:
        worker = AsyncWorker(
            store, async_transport(kind, **options), clock=clock, settings=settings
        )
        await worker.drain()
        await worker.aclose()

    anyio.run(drain)


@pytest.mark.parametrize("kind", ["httpx", *ASYNC_TRANSPORTS])
def test_every_planted_endpoint_is_blocked_at_connection_without_a_socket(
    kind: str, tmp_path: Path, listener: Listener, figures: Figures
) -> None:
    if kind in ("aiohttp", "httptools"):
        pytest.importorskip(kind)
    store, clock, planted = planted_world(tmp_path, CASES, listener.port)

    run_worker(kind, store, clock, resolver_for(CASES, listener.port))

    deliveries = all_deliveries(store)
    assert len(deliveries) == len(CASES)
    for delivery in deliveries:
        [attempt] = store.list_attempts(delivery.id)
        case = planted[delivery.subscription_id]
        expected = "connect" if case.problem == "does not resolve" else "blocked"
        assert (attempt.error or "").startswith(expected), (case.url, attempt.error)
        assert attempt.status_code is None
    assert listener.connections == 0
    store.close()
    figures.add("ssrf", connection_cases=len(CASES), blocked=len(CASES), sockets_opened=0)


# -- DNS rebinding -----------------------------------------------------------------------------

REBOUND = [
    ["127.0.0.1"],
    ["::1"],
    ["::ffff:127.0.0.1"],
    ["169.254.169.254"],
    ["fd00:ec2::254"],
    ["0.0.0.0"],
    ["10.0.0.1"],
    ["64:ff9b::7f00:1"],
    ["93.184.216.34", "127.0.0.1"],  # one hostile answer among public ones
]


@pytest.mark.parametrize("kind", ["httpx", *ASYNC_TRANSPORTS])
def test_dns_rebinding_after_registration_is_blocked_at_connection(
    kind: str, tmp_path: Path, listener: Listener, figures: Figures
) -> None:
    if kind in ("aiohttp", "httptools"):
        pytest.importorskip(kind)
    names = [f"rebind{n}.example.com" for n in range(len(REBOUND))]
    resolver = StaticResolver(dict.fromkeys(names, PUBLIC))
    store = SqlStore(tmp_path / "rebind.db")
    clock = FakeClock()
    dispatcher = Dispatcher(store, clock=clock, resolver=resolver)
    integration = dispatcher.integrations.install("acme", secret=SECRET)
    for name in names:  # all public now: registration accepts them
        url = f"https://{name}:{listener.port}/hook"
        dispatcher.integrations.subscribe(integration.id, "course/*", url)
    dispatcher.emit("course/completion/create", {"n": 1}, tenant="acme")
    for name, hostile in zip(names, REBOUND):  # the attacker's DNS turns
        resolver.set(name, hostile)

    run_worker(kind, store, clock, resolver)

    for delivery in all_deliveries(store):
        [attempt] = store.list_attempts(delivery.id)
        assert (attempt.error or "").startswith("blocked: "), attempt.error
        assert "resolves to" in (attempt.error or "")
    assert listener.connections == 0
    store.close()
    figures.add("ssrf", rebinding_cases=len(REBOUND), blocked=len(REBOUND), sockets_opened=0)


def test_the_opt_out_still_refuses_metadata_and_the_unspecified_address_at_connection(
    tmp_path: Path, listener: Listener, figures: Figures
) -> None:
    # 0.0.0.0 reaches local services on Linux; allow_insecure must not open that door.
    insecure = EndpointPolicy(allow_insecure=True)
    answers = {"meta.example.com": ["169.254.169.254"], "zero.example.com": ["0.0.0.0"]}
    resolver = StaticResolver({name: ["127.0.0.1"] for name in answers})
    store = SqlStore(tmp_path / "insecure.db")
    clock = FakeClock()
    dispatcher = Dispatcher(store, clock=clock, endpoint_policy=insecure, resolver=resolver)
    integration = dispatcher.integrations.install("acme", secret=SECRET)
    for name in answers:
        url = f"http://{name}:{listener.port}/hook"
        dispatcher.integrations.subscribe(integration.id, "course/*", url)
    dispatcher.emit("course/completion/create", {"n": 1}, tenant="acme")
    for name, hostile in answers.items():
        resolver.set(name, hostile)
    transport = sync_transport(policy=insecure, resolver=resolver, timeouts=timeouts(2.0))

    SyncWorker(store, transport, clock=clock).drain()

    for delivery in all_deliveries(store):
        [attempt] = store.list_attempts(delivery.id)
        assert (attempt.error or "").startswith("blocked: "), attempt.error
    assert listener.connections == 0
    transport.close()
    store.close()
    figures.add("ssrf", rebinding_cases=len(answers), blocked=len(answers), sockets_opened=0)
