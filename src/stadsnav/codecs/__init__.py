"""Device payload codecs, shaped like the LoRa Alliance payload codec API (TS013)."""
