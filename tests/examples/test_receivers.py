"""The example receivers work as documented, each through its framework's own test client."""

from __future__ import annotations

import base64
import importlib.util
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any, NamedTuple

import anyio
import httpx
import pytest

from acadio_webhooks.testing import sign_headers, signed_request

ROOT = Path(__file__).resolve().parents[2]
RECEIVERS = ROOT / "examples" / "receivers"
SECRET = "s3cret-from-the-acadio-portal"
TOPIC = "course/completion/create"
DATA = {"course_id": 42, "learner": "Zoë", "score": 0.93}


class Reply(NamedTuple):
    status: int
    json: dict[str, Any]
    refusal: dict[str, Any]
    """The {"error", "detail"} of a refusal; FastAPI nests it under "detail", its usual shape."""


Post = Callable[[bytes, dict[str, str]], Reply]


def load_example(name: str) -> ModuleType:
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, RECEIVERS / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # Django resolves ROOT_URLCONF by module name
    spec.loader.exec_module(module)
    return module


def flask_post(monkeypatch: pytest.MonkeyPatch, secret: str) -> Post:
    monkeypatch.setenv("ACADIO_WEBHOOK_SECRET", secret)
    client = load_example("flask_receiver").app.test_client()

    def post(body: bytes, headers: dict[str, str]) -> Reply:
        response = client.post("/webhooks/acadio", data=body, headers=headers)
        return Reply(response.status_code, response.get_json(), response.get_json())

    return post


def django_post(monkeypatch: pytest.MonkeyPatch, secret: str) -> Post:
    load_example("django_receiver")
    from django.conf import settings
    from django.test import Client

    monkeypatch.setattr(settings, "ACADIO_WEBHOOK_SECRET", secret, raising=False)
    # Settings are process-wide: if another test module configured Django first, route to
    # this example all the same.
    monkeypatch.setattr(settings, "ROOT_URLCONF", "django_receiver")
    # Acadio never sends a CSRF token: the example must work with CSRF checks enforced.
    client = Client(enforce_csrf_checks=True)

    def post(body: bytes, headers: dict[str, str]) -> Reply:
        extra = {k: v for k, v in headers.items() if k.lower() != "content-type"}
        response = client.post(
            "/webhooks/acadio", data=body, content_type="application/json", headers=extra
        )
        document = json.loads(response.content)
        return Reply(response.status_code, document, document)

    return post


def fastapi_post(monkeypatch: pytest.MonkeyPatch, secret: str) -> Post:
    monkeypatch.setenv("ACADIO_WEBHOOK_SECRET", secret)
    transport = httpx.ASGITransport(app=load_example("fastapi_receiver").app)

    async def send(body: bytes, headers: dict[str, str]) -> httpx.Response:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            return await client.post("/webhooks/acadio", content=body, headers=headers)

    def post(body: bytes, headers: dict[str, str]) -> Reply:
        response = anyio.run(send, body, headers)
        document = response.json()
        return Reply(response.status_code, document, document.get("detail", document))

    return post


RECEIVER_CLIENTS = {"flask": flask_post, "django": django_post, "fastapi": fastapi_post}


@pytest.fixture(params=sorted(RECEIVER_CLIENTS))
def receiver(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Post:
    return RECEIVER_CLIENTS[request.param](monkeypatch, SECRET)


def test_a_signed_delivery_is_accepted_with_its_data(receiver: Post) -> None:
    body, headers = signed_request(DATA, SECRET, topic=TOPIC, tenant="acme")

    reply = receiver(body, headers)

    assert reply.status == 200
    assert reply.json == {"received": headers["webhook-id"], "topic": TOPIC, "data": DATA}


def test_a_tampered_body_is_refused_with_the_reason(receiver: Post) -> None:
    body, headers = signed_request(DATA, SECRET, topic=TOPIC, tenant="acme")

    reply = receiver(body.replace(b"0.93", b"1.00"), headers)

    assert reply.status == 400
    assert reply.refusal["error"] == "bad_signature"
    assert SECRET not in reply.refusal["detail"]


def test_a_replayed_delivery_is_refused(receiver: Post) -> None:
    body, headers = signed_request(DATA, SECRET, topic=TOPIC, tenant="acme")
    assert receiver(body, headers).status == 200

    reply = receiver(body, headers)

    assert (reply.status, reply.refusal["error"]) == (400, "replayed")


def test_a_stale_delivery_is_refused(receiver: Post) -> None:
    body, _ = signed_request(DATA, SECRET, topic=TOPIC, tenant="acme")

    reply = receiver(body, sign_headers(body, SECRET, timestamp=1_000_000_000))

    assert (reply.status, reply.refusal["error"]) == (400, "stale")


@pytest.mark.parametrize("framework", sorted(RECEIVER_CLIENTS))
def test_a_missing_secret_is_a_server_error_so_acadio_retries(
    framework: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    post = RECEIVER_CLIENTS[framework](monkeypatch, "")
    body, headers = signed_request(DATA, SECRET, topic=TOPIC, tenant="acme")

    reply = post(body, headers)

    assert (reply.status, reply.refusal) == (500, {"error": "receiver_misconfigured"})
    assert any(
        record.name == "acadio_webhooks.receivers"
        and record.levelno == logging.ERROR
        and "secret" in record.getMessage()
        for record in caplog.records
    )


# --- verifying in another language: the Node.js snippet of docs/receiving.md -----------------

NODE_SNIPPET = RECEIVERS / "node_verify.mjs"


def test_the_docs_show_the_node_snippet_that_is_tested() -> None:
    docs = (ROOT / "docs" / "receiving.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```js\n(.*?)```", docs, flags=re.DOTALL)

    assert NODE_SNIPPET.read_text(encoding="utf-8") in blocks


def run_node_snippet(body: bytes, headers: dict[str, str], secret: str) -> str:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: cannot run the Node.js example")
    script = (
        f"import {{ verifyAcadioWebhook }} from {json.dumps(NODE_SNIPPET.as_uri())};\n"
        'import { readFileSync } from "node:fs";\n'
        'const input = JSON.parse(readFileSync(0, "utf8"));\n'
        "const headers = Object.fromEntries("
        "Object.entries(input.headers).map(([k, v]) => [k.toLowerCase(), v]));\n"
        "try {\n"
        '  const event = verifyAcadioWebhook(Buffer.from(input.body, "base64"), headers, '
        "input.secret);\n"
        "  console.log(JSON.stringify(event));\n"
        "} catch (error) { console.log(error.message); }\n"
    )
    payload = {
        "body": base64.b64encode(body).decode(),
        "headers": headers,
        "secret": secret,
    }
    completed = subprocess.run(
        [node, "--input-type=module", "-e", script],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return completed.stdout.strip()


def test_the_node_snippet_verifies_our_deliveries() -> None:
    body, headers = signed_request(DATA, SECRET, topic=TOPIC, tenant="acme")

    output = run_node_snippet(body, headers, SECRET)

    assert json.loads(output)["data"] == DATA


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (lambda body, headers: (body.replace(b"0.93", b"1.00"), headers), "bad_signature"),
        (lambda body, headers: (body, {**headers, "webhook-id": "evt_x"}), "bad_signature"),
        (
            lambda body, _: (body, sign_headers(body, SECRET, timestamp=1_000_000_000)),
            "stale",
        ),
    ],
)
def test_the_node_snippet_refuses_what_verify_refuses(tamper: Any, reason: str) -> None:
    body, headers = tamper(*signed_request(DATA, SECRET, topic=TOPIC, tenant="acme"))

    assert run_node_snippet(body, headers, SECRET) == reason


# --- the Redis replay guard of docs/receiving.md, against a real Redis -----------------------


@pytest.fixture
def redis_client() -> Iterator[Any]:
    from redis import Redis
    from redis.exceptions import ConnectionError as RedisConnectionError

    client = Redis(host="127.0.0.1", port=6379, socket_connect_timeout=2)
    try:
        client.ping()
    except RedisConnectionError as exc:
        client.close()
        if os.environ.get("ACADIO_WEBHOOKS_REQUIRE_SERVICES") == "1":
            pytest.fail(f"Redis on 127.0.0.1:6379 is required but unreachable: {exc}")
        pytest.skip(f"Redis on 127.0.0.1:6379 is unreachable: {exc}")
    yield client
    client.close()


@pytest.mark.services
def test_the_redis_replay_guard_refuses_a_replay_across_processes(redis_client: Any) -> None:
    from acadio_webhooks import ReplayedMessage, ReplayGuard, verify

    guard_module = load_example("redis_replay_guard")
    prefix = f"acadio-webhooks-test:{uuid.uuid4().hex}:"
    # Two guards on one Redis stand for two worker processes.
    first = guard_module.RedisReplayGuard(redis_client, prefix=prefix)
    second = guard_module.RedisReplayGuard(redis_client, prefix=prefix)
    assert isinstance(first, ReplayGuard)
    body, headers = signed_request(DATA, SECRET, topic=TOPIC, tenant="acme")
    try:
        assert verify(body, headers, SECRET, replay_guard=first).data == DATA
        with pytest.raises(ReplayedMessage):
            verify(body, headers, SECRET, replay_guard=second)

        key = f"{prefix}{headers['webhook-id']}.{headers['webhook-timestamp']}"
        expires_at = redis_client.expiretime(key)
        assert expires_at == int(headers["webhook-timestamp"]) + 300
    finally:
        for key in redis_client.scan_iter(match=prefix + "*"):
            redis_client.delete(key)


def test_the_worked_example_in_the_docs_is_what_we_send() -> None:
    from datetime import datetime, timezone

    docs = (ROOT / "docs" / "receiving.md").read_text(encoding="utf-8")
    body, headers = signed_request(
        {"course_id": 42, "learner_id": "usr_81", "completed": True},
        "the secret",
        topic=TOPIC,
        tenant="acme",
        event_id="evt_0193f2c1a4b7e2c0f1d9a3b4c5d6e7f8",
        created_at=datetime(2026, 3, 3, 9, 30, tzinfo=timezone.utc),
        timestamp=1772530201,
    )

    assert body.decode() in docs
    for name, value in headers.items():
        assert f"{name}: {value}\n" in docs
    assert f"# {headers['X-Acadio-Hmac-Sha256']}  (for the example body above)" in docs
