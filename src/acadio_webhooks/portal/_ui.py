"""The HTML pages: the customer page's "Manage Integrations" flow over the same service the
JSON API uses.

Manage Integrations → Install (secret key, notification e-mail) → the integration page
(subscriptions with the topic help, Save; secret key; notification e-mail; Deactivate) →
the delivery log → one delivery with its attempts and a Resend button.

Every POST is a form checked against the signed double-submit CSRF token (:mod:`._csrf`)
before anything else happens, and answers with a redirect (post/redirect/get) or, for bad
input, the same page again with each message next to its field (status 422).
"""

from __future__ import annotations

from starlette.routing import Route

from acadio_webhooks.portal._ui_base import FormState
from acadio_webhooks.portal._ui_deliveries import DeliveryPages
from acadio_webhooks.portal._ui_subscriptions import SubscriptionPages

__all__ = ["Pages", "FormState"]


class Pages(SubscriptionPages, DeliveryPages):
    """The page handlers and their routes."""

    def routes(self) -> list[Route]:
        """Every page and form route."""
        r = self._route
        return [
            r("/", self.home, name="home"),
            r("/install", self.install_form, name="install_form"),
            r("/install", self.install, name="install", method="POST"),
            r("/topics", self.topics, name="topics"),
            r("/integrations/{integration_id}", self.integration, name="integration"),
            r("/integrations/{integration_id}/secret", self.rotate_secret, name="secret",
              method="POST"),
            r("/integrations/{integration_id}/email", self.email, name="email", method="POST"),
            r("/integrations/{integration_id}/deactivate", self.deactivate, name="deactivate",
              method="POST"),
            r("/integrations/{integration_id}/activate", self.activate, name="activate",
              method="POST"),
            r("/integrations/{integration_id}/subscriptions", self.subscribe,
              name="subscribe", method="POST"),
            r("/integrations/{integration_id}/deliveries", self.deliveries, name="deliveries"),
            r("/integrations/{integration_id}/resend-failed", self.resend_failed,
              name="resend_failed", method="POST"),
            r("/subscriptions/{subscription_id}", self.subscription, name="subscription"),
            r("/subscriptions/{subscription_id}", self.update_subscription,
              name="subscription_update", method="POST"),
            r("/subscriptions/{subscription_id}/toggle", self.toggle_subscription,
              name="subscription_toggle", method="POST"),
            r("/subscriptions/{subscription_id}/delete", self.delete_subscription,
              name="subscription_delete", method="POST"),
            r("/subscriptions/{subscription_id}/test", self.test_event, name="test_event",
              method="POST"),
            r("/deliveries/{delivery_id}", self.delivery, name="delivery"),
            r("/deliveries/{delivery_id}/resend", self.resend, name="resend", method="POST"),
        ]  # fmt: skip
