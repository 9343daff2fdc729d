"""Flask specifics: the view can still read the body, URL variables follow the event, and
decorated views keep their own endpoint names."""

from __future__ import annotations

from flask import Flask, request

from acadio_webhooks import ReceivedEvent
from acadio_webhooks.receivers.flask import verified_event, verify_webhook
from acadio_webhooks.testing import signed_request

SECRET = "s3cret-from-the-acadio-portal"


def delivery() -> tuple[bytes, dict[str, str]]:
    return signed_request({"course_id": 7}, SECRET, topic="course/completion/create", tenant="t")


def test_the_view_can_read_the_raw_body_after_verified_event() -> None:
    app = Flask(__name__)

    @app.post("/hook")
    def receive() -> dict[str, bool]:
        event = verified_event(SECRET)
        return {"same_bytes": request.get_data() == event.raw}

    body, headers = delivery()
    response = app.test_client().post("/hook", data=body, headers=headers)

    assert response.get_json() == {"same_bytes": True}


def test_url_variables_follow_the_event_and_endpoints_keep_their_names() -> None:
    app = Flask(__name__)

    @app.post("/<tenant>/completions")
    @verify_webhook(SECRET)
    def completions(event: ReceivedEvent, tenant: str) -> dict[str, str]:
        return {"view": "completions", "tenant": tenant, "received": event.id}

    @app.post("/<tenant>/enrolments")
    @verify_webhook(SECRET)
    def enrolments(event: ReceivedEvent, tenant: str) -> dict[str, str]:
        return {"view": "enrolments", "tenant": tenant, "received": event.id}

    body, headers = delivery()
    client = app.test_client()

    first = client.post("/acme/completions", data=body, headers=headers).get_json()
    second = client.post("/acme/enrolments", data=body, headers=headers).get_json()

    assert first == {"view": "completions", "tenant": "acme", "received": headers["webhook-id"]}
    assert second["view"] == "enrolments"
