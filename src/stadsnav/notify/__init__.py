"""NGSI-LD subscriptions and their notifications, served from the change feed."""

from stadsnav.notify.notifier import Notifier

__all__ = ["Notifier"]
