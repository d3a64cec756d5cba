"""Connectors: one module per transport, each behind the ``Connector`` base class."""
