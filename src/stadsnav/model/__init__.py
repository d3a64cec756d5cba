"""The information model: NGSI-LD entities, uplinks and provenance; no I/O."""
