"""The ETSI NGSI-LD context API."""
