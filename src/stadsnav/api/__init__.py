"""The ASGI application: NGSI-LD, data products, ingest webhooks and operations endpoints."""
