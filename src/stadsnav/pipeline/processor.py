"""Turn one inbox message into attribute writes: envelope → decode → map → validate."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import orjson

from stadsnav.codecs.base import Codec
from stadsnav.codecs.registry import UnknownCodecError, get_codec
from stadsnav.codecs.repository import load_workspace_codecs
from stadsnav.connectors.documents import DocumentError, RecordError, parse_document
from stadsnav.connectors.envelopes import (
    EnvelopeError,
    parse_status,
    parse_uplinks,
    reads_status,
)
from stadsnav.mapping import CompiledMapping, MappingError, compile_mapping
from stadsnav.mapping.engine import StaticWrites
from stadsnav.model.render import format_time
from stadsnav.model.times import iso_duration
from stadsnav.model.uplink import DeviceStatus, Uplink
from stadsnav.pipeline.quality import QUALITY_ATTRIBUTE, QualityRules, Run
from stadsnav.pipeline.rollup import ChildState, RollupCounter
from stadsnav.store.base import (
    AttributeWrite,
    ContextStore,
    InboxMessage,
    NewDeadLetter,
    Provenance,
    StoredEntity,
)
from stadsnav.workspace import Device, Integration, Workspace
from stadsnav.workspace.sources import HttpPollSource

DEVICE_TYPE = "Device"
"""Smart Data Models type of the entity that holds a registered device's own metadata."""
_RSSI_UNIT = "DBM"  # UN/CEFACT code for dBm, as Smart Data Models' Device asks for rssi
_SNR_UNIT = "2N"  # UN/CEFACT code for decibel
RECORD_CONTENT_TYPE = "application/vnd.stadsnav.record+json"
"""Content type of one record of a polled document, as its dead letter keeps it for replay."""
FUTURE_TIMESTAMP = "future_timestamp"
"""Reason code of an observation dated too far ahead of the server's clock."""
INVALID_TIME = "invalid_time"
"""Reason code of an observation time that is unreadable, without a zone or implausibly old."""


class StageError(Exception):
    """A message failed at one pipeline stage; it goes to the dead-letter store."""

    def __init__(self, stage: str, reason: str) -> None:
        super().__init__(reason)
        self.stage = stage
        self.reason = reason


@dataclass(slots=True)
class _Issues:
    """An entity's quality issues as of one observation."""

    entity_type: str
    issues: list[str]
    observed_at: datetime
    provenance: Provenance

    def write(self, entity_id: str) -> AttributeWrite:
        """The latest-only ``qualityIssues`` write."""
        attribute = {
            "type": "Property",
            "value": self.issues,
            "observedAt": format_time(self.observed_at),
        }
        return AttributeWrite(
            entity_id,
            self.entity_type,
            QUALITY_ATTRIBUTE,
            attribute,
            self.observed_at,
            self.provenance,
            history=False,
        )


@dataclass(slots=True)
class Batch:
    """One pipeline batch's state: what to write once per batch rather than once per uplink."""

    static: StaticWrites = field(default_factory=dict)
    """Static links already written in this batch (a sensor's site, position, measures)."""
    radio: dict[str, tuple[Uplink, Provenance, str]] = field(default_factory=dict)
    """DevEUI → its newest uplink in this batch; only that one's radio readings are stored."""
    counted: dict[str, dict[str, ChildState]] = field(default_factory=dict)
    """Integration → counted entity (a parking spot) → its newest state in this batch."""
    values: dict[tuple[str, str], Any] = field(default_factory=dict)
    """(entity id, attribute) → value written in this batch, for quality checks across messages."""
    runs: dict[str, dict[str, Run]] = field(default_factory=dict)
    """Entity id → attribute → how long its value has been unchanged, for stuck sensors."""
    flags: dict[str, _Issues] = field(default_factory=dict)
    """Entity id → its newest ``qualityIssues`` in this batch: only the latest is stored."""
    dead: list[NewDeadLetter] = field(default_factory=list)
    """Records of polled documents that failed while the rest of their document was stored."""

    def copy(self) -> Batch:
        """A copy to try a multi-uplink message on, merged back only if all of it succeeds."""
        counted = {key: dict(states) for key, states in self.counted.items()}
        return Batch(
            dict(self.static),
            dict(self.radio),
            counted,
            dict(self.values),
            dict(self.runs),
            dict(self.flags),
        )

    def merge(self, other: Batch) -> None:
        """Take over what ``other`` (a copy of this batch) has written."""
        self.static.update(other.static)
        self.radio.update(other.radio)
        self.counted.update(other.counted)
        self.values.update(other.values)
        self.runs.update(other.runs)
        self.flags.update(other.flags)


@dataclass(slots=True)
class _Route:
    """Everything needed to process one integration's messages, compiled once."""

    integration: Integration
    mapping: CompiledMapping
    quality: QualityRules
    rollup: RollupCounter | None


def device_scope(device: Device) -> dict[str, Any]:
    """The ``device.*`` scope a mapping sees for a registered device."""
    scope = device.model_dump(mode="json")
    if device.location is not None:
        scope["location"] = {
            "type": "Point",
            "coordinates": [device.location.lon, device.location.lat],
        }
    return scope


def device_entity_id(device: Device) -> str:
    """The id of a registered device's Smart Data Models ``Device`` entity."""
    return f"urn:ngsi-ld:Device:{device.name}"


def uplink_scope(uplink: Uplink) -> dict[str, Any]:
    """The ``uplink.*`` scope a mapping sees."""
    return {
        "network": uplink.network,
        "message_id": uplink.message_id,
        "dev_eui": uplink.dev_eui,
        "device_id": uplink.device_id,
        "f_port": uplink.f_port,
        "f_cnt": uplink.f_cnt,
        "received_at": format_time(uplink.received_at),
    }


class Processor:
    """Processes messages for every integration of a workspace."""

    def __init__(self, workspace: Workspace, store: ContextStore | None = None) -> None:
        self.workspace = workspace
        self.store = store
        """Read for quality checks and rollups that need stored values; None: those are skipped."""
        self.max_future_skew: timedelta = workspace.settings.pipeline.max_future_skew
        self.earliest_observation = workspace.settings.pipeline.earliest_observation
        self._routes = {
            integration.id: _Route(
                integration,
                compile_mapping(integration.mapping),
                QualityRules(workspace.datasets[integration.dataset]),
                None
                if integration.rollup is None
                else RollupCounter(integration.rollup, integration.mapping.entity_type),
            )
            for integration in workspace.integrations.values()
        }
        self._seed_types = {entity.id: entity.type for entity in workspace.entities}
        self._device_scopes = {eui: device_scope(d) for eui, d in workspace.devices.items()}
        self._device_ids = {eui: device_entity_id(d) for eui, d in workspace.devices.items()}
        self._device_links = {
            eui: {"type": "Relationship", "object": entity_id}
            for eui, entity_id in self._device_ids.items()
        }
        self._controlled_properties = {
            eui: {"type": "Property", "value": list(d.measures)}
            for eui, d in workspace.devices.items()
            if d.measures
        }
        self._codecs: dict[str, Codec] = {}
        # Imported JavaScript codecs (the workspace's codecs/ folder); V8 starts on first use.
        self._imported: dict[str, Codec] = dict(load_workspace_codecs(workspace.root))

    def process(self, message: InboxMessage, batch: Batch | None = None) -> list[AttributeWrite]:
        """The writes for one message; raise ``StageError`` on any failure.

        With a ``batch``, values that would repeat within it are left out, and the devices'
        radio readings wait for ``batch_writes`` at the end of the batch.
        """
        route = self._routes.get(message.source)
        if route is None:
            raise StageError("receive", f"no integration {message.source!r} in the workspace")
        if message.content_type == RECORD_CONTENT_TYPE:
            return self._process_records(route, message, [_replayed_record(message)], [], batch)
        source = route.integration.source
        if isinstance(source, HttpPollSource):
            try:
                parsed = parse_document(message.body, message.content_type, source)
            except DocumentError as error:
                raise StageError("parse", str(error)) from None
            return self._process_records(route, message, parsed.records, parsed.errors, batch)
        fmt = source.format
        try:
            uplinks = parse_uplinks(message.body, fmt)
        except EnvelopeError as error:
            status = _status_event(message.body, fmt)
            if status is None:
                raise StageError("envelope", str(error)) from None
            return self._process_status(route, message, status)
        if len(uplinks) == 1:
            return self._process_uplink(route, message, uplinks[0], batch)
        # A batch (Netmore) is stored whole or dead-lettered whole, so a replay repeats nothing.
        writes: list[AttributeWrite] = []
        attempt = None if batch is None else batch.copy()
        for index, uplink in enumerate(uplinks):
            try:
                writes += self._process_uplink(route, message, uplink, attempt)
            except StageError as error:
                reason = f"uplink {index + 1} of {len(uplinks)} in the batch: {error.reason}"
                raise StageError(error.stage, reason) from None
        if batch is not None and attempt is not None:
            batch.merge(attempt)
        return writes

    def batch_writes(self, batch: Batch) -> list[AttributeWrite]:
        """The writes kept back until the end of a batch: radio readings, rolled-up counts."""
        writes = [issues.write(entity_id) for entity_id, issues in batch.flags.items()]
        for uplink, provenance, at in batch.radio.values():
            writes += self._radio_writes(uplink, provenance, at)
        for integration_id, touched in batch.counted.items():
            counter = self._routes[integration_id].rollup
            if counter is None or not touched or self.store is None:
                continue
            before = {}
            for entity in self.store.find_entities(ids=list(touched)):
                state = counter.stored_state(entity)
                if state is not None:
                    before[entity.id] = state
            parents = {s.parent for s in touched.values()} | {s.parent for s in before.values()}
            counts = self.store.count_related(
                counter.child_type,
                counter.rollup.relationship,
                sorted(parents),
                counter.rollup.property,
            )
            writes += counter.writes(touched, before, counts, self._entity_type)
        return writes

    def _entity_type(self, entity_id: str) -> str | None:
        seed = self._seed_types.get(entity_id)
        if seed is not None:
            return seed
        stored = None if self.store is None else self.store.get_entity(entity_id)
        return None if stored is None else stored.type

    def _process_records(
        self,
        route: _Route,
        message: InboxMessage,
        records: list[dict[str, Any]],
        errors: list[RecordError],
        batch: Batch | None,
    ) -> list[AttributeWrite]:
        """Map every record of a polled document; a failed record is dead-lettered alone.

        Without a batch (no place for per-record dead letters) the first failure fails it all.
        """
        failed = [(error.key, "parse", error.reason, error.raw) for error in errors]
        writes: list[AttributeWrite] = []
        provenance = Provenance(route.integration.id, message.message_id, message.received_at)
        for index, record in enumerate(records):
            try:
                writes += self._map(route, {"data": record}, message.received_at, provenance, batch)
            except StageError as error:
                key = route.mapping.entity_id({"data": record}) or f"record {index + 1}"
                failed.append((key, error.stage, error.reason, record))
        if failed and batch is None:
            key, stage, reason, _ = failed[0]
            raise StageError(stage, f"{key}: {reason}")
        if batch is not None:
            batch.dead += [_record_letter(message, *failure) for failure in failed]
        return writes

    def _map(
        self,
        route: _Route,
        scopes: dict[str, Any],
        received_at: datetime,
        provenance: Provenance,
        batch: Batch | None,
    ) -> list[AttributeWrite]:
        """Map, validate and flag one uplink's or record's values; count it if it is rolled up."""
        mapping = route.mapping
        try:
            observed_at = mapping.observed_time(scopes, received_at)
        except MappingError as error:
            raise StageError("validate", f"{INVALID_TIME}: {error}") from None
        try:
            static = None if batch is None else batch.static
            writes = mapping.apply(scopes, observed_at, provenance, static)
        except MappingError as error:
            raise StageError("map", str(error)) from None
        self._validate(route, observed_at, writes)
        if route.quality.checked:
            writes += self._flags(route, writes, observed_at, provenance, batch)
        if route.rollup is not None and batch is not None:
            self._count(route, route.rollup, scopes, writes, provenance, batch)
        return writes

    def _flags(
        self,
        route: _Route,
        writes: list[AttributeWrite],
        observed_at: datetime,
        provenance: Provenance,
        batch: Batch | None,
    ) -> list[AttributeWrite]:
        """Each mapped entity's ``qualityIssues``: what its new values contradict ([] if none).

        With a ``batch``, they wait in it for ``batch_writes``: only the newest is stored.
        """
        flags: dict[str, _Issues] = {} if batch is None else batch.flags
        cache: dict[tuple[str, str], Any] = {} if batch is None else batch.values
        all_runs: dict[str, dict[str, Run]] = {} if batch is None else batch.runs
        quality = route.quality
        for entity_id, entity_type, values, observed in _by_entity(writes):
            # Only observations are judged: a description (the capacity from a table feed)
            # must not clear what the last observation was flagged for.
            if not quality.checked.intersection(observed):
                for name, value in values.items():
                    cache[entity_id, name] = value
                continue
            issues = quality.issues(values, partial(self._known, entity_id, cache))
            if quality.stuck_after:
                # A new dict each time: a batch's copy (of a multi-uplink message) shares the old.
                runs = dict(all_runs.get(entity_id, ()))
                store = self.store
                stored = None if store is None else partial(store.unchanged_since, entity_id)
                issues += quality.stuck(values, observed, observed_at, runs, stored)
                all_runs[entity_id] = runs
            for name, value in values.items():
                cache[entity_id, name] = value
            newest = flags.get(entity_id)
            if newest is None or newest.observed_at <= observed_at:
                flags[entity_id] = _Issues(entity_type, issues, observed_at, provenance)
        if batch is not None:
            return []
        return [issues.write(entity_id) for entity_id, issues in flags.items()]

    def _known(self, entity_id: str, written: dict[tuple[str, str], Any], name: str) -> Any:
        """An attribute's value from earlier in this batch, else as stored; None if unknown."""
        if (entity_id, name) in written:
            return written[entity_id, name]
        entity: StoredEntity | None = None
        if self.store is not None:
            entity = self.store.get_entity(entity_id)
        attribute = None if entity is None else entity.attributes.get(name)
        # Kept for the rest of the batch: the store does not change until the batch commits.
        value = written[entity_id, name] = None if attribute is None else attribute.get("value")
        return value

    def _count(
        self,
        route: _Route,
        counter: RollupCounter,
        scopes: dict[str, Any],
        writes: list[AttributeWrite],
        provenance: Provenance,
        batch: Batch,
    ) -> None:
        """Note a counted entity's new state; its parent's counts are written at batch end."""
        parent = route.mapping.relationship(counter.rollup.relationship, scopes)
        for write in writes:
            if write.name != counter.rollup.property or write.observed_at is None:
                continue
            if parent is None:
                raise StageError(
                    "map",
                    f"rollup: {write.entity_id} has no {counter.rollup.relationship} to count into",
                )
            state = ChildState(
                parent, str(write.attribute.get("value")), write.observed_at, provenance
            )
            touched = batch.counted.setdefault(route.integration.id, {})
            known = touched.get(write.entity_id)
            if known is None or known.observed_at <= state.observed_at:
                touched[write.entity_id] = state

    def _device(self, dev_eui: str, device_id: str | None) -> Device:
        device = self.workspace.devices.get(dev_eui)
        if device is None:
            raise StageError(
                "device",
                f"unknown device {dev_eui} ({device_id or 'no name'}): "
                "add it to the device registry (devices/*.yaml), then replay",
            )
        return device

    def _process_uplink(
        self, route: _Route, message: InboxMessage, uplink: Uplink, batch: Batch | None
    ) -> list[AttributeWrite]:
        device = self._device(uplink.dev_eui, uplink.device_id)
        data = self._decode(route, device, uplink)
        scopes = {"data": data, "device": self._device_scopes[uplink.dev_eui]}
        if "uplink" in route.mapping.scopes:
            scopes["uplink"] = uplink_scope(uplink)
        provenance = Provenance(route.integration.id, message.message_id, message.received_at)
        writes = self._map(route, scopes, uplink.received_at, provenance, batch)
        writes += self._device_writes(uplink, writes, provenance, batch)
        if batch is not None:
            for write in writes:
                if write.observed_at is None:
                    batch.static[(write.entity_id, write.name)] = write.attribute
        return writes

    def _device_writes(
        self,
        uplink: Uplink,
        observations: list[AttributeWrite],
        provenance: Provenance,
        batch: Batch | None,
    ) -> list[AttributeWrite]:
        """Latest-only writes to the device's own entity, and a link to it from each observation."""
        device_id = self._device_ids[uplink.dev_eui]
        at = _observed_at(observations, uplink)
        writes: list[AttributeWrite] = []
        if batch is None:
            writes += self._radio_writes(uplink, provenance, at)
        else:
            # Only the newest uplink's readings would survive the batch: keep back just those.
            newest = batch.radio.get(uplink.dev_eui)
            if newest is None or newest[0].received_at <= uplink.received_at:
                batch.radio[uplink.dev_eui] = (uplink, provenance, at)
        written = None if batch is None else batch.static
        # Static ones repeat with every uplink; ``written`` keeps each to once per batch.
        measures = self._controlled_properties.get(uplink.dev_eui)
        if measures is not None and _unwritten(written, device_id, "controlledProperty", measures):
            writes.append(
                AttributeWrite(
                    device_id, DEVICE_TYPE, "controlledProperty", measures, None, provenance
                )
            )
        link = self._device_links[uplink.dev_eui]
        linked = None
        for write in observations:
            # A mapping writes each entity's attributes together: one link per run of them.
            entity_id = write.entity_id
            if entity_id != linked and _unwritten(written, entity_id, "refDevice", link):
                writes.append(
                    AttributeWrite(
                        entity_id, write.entity_type, "refDevice", link, None, provenance
                    )
                )
            linked = entity_id
        return writes

    def _radio_writes(
        self, uplink: Uplink, provenance: Provenance, at: str
    ) -> list[AttributeWrite]:
        """When the device last reported, and how well it was heard (RSSI, SNR, gateway)."""
        device_id = self._device_ids[uplink.dev_eui]
        reported = {"type": "Property", "value": {"@type": "DateTime", "@value": at}}
        # Stamped with the uplink's time, so a late uplink never replaces a newer reading.
        when = uplink.received_at

        def reading(name: str, attribute: dict[str, Any]) -> AttributeWrite:
            return AttributeWrite(
                device_id, DEVICE_TYPE, name, attribute, when, provenance, history=False
            )

        writes = [reading("dateLastValueReported", reported)]
        if uplink.rssi is not None:
            rssi = {
                "type": "Property",
                "value": uplink.rssi,
                "unitCode": _RSSI_UNIT,
                "observedAt": at,
            }
            writes.append(reading("rssi", rssi))
        if uplink.snr is not None:
            snr = {"type": "Property", "value": uplink.snr, "unitCode": _SNR_UNIT, "observedAt": at}
            writes.append(reading("snr", snr))
        if uplink.gateway_id is not None:
            gateway = {"type": "Property", "value": uplink.gateway_id, "observedAt": at}
            writes.append(reading("gateway", gateway))
        return writes

    def _process_status(
        self, route: _Route, message: InboxMessage, status: DeviceStatus
    ) -> list[AttributeWrite]:
        """The battery level of a device's status report, on the device's own entity."""
        device = self._device(status.dev_eui, status.device_id)
        if status.battery_unavailable:
            level = -1.0  # what Smart Data Models' batteryLevel says when it cannot be measured
        elif status.battery_level is not None:
            level = status.battery_level
        else:
            return []  # externally powered: there is no battery to report
        attribute: dict[str, Any] = {"type": "Property", "value": level}
        if status.received_at is not None:
            attribute["observedAt"] = format_time(status.received_at)
        provenance = Provenance(route.integration.id, message.message_id, message.received_at)
        return [
            AttributeWrite(
                self._device_ids[device.dev_eui],
                DEVICE_TYPE,
                "batteryLevel",
                attribute,
                None,
                provenance,
            )
        ]

    def _decode(self, route: _Route, device: Device, uplink: Uplink) -> dict[str, Any]:
        codec_id = device.codec or route.integration.codec
        if codec_id is None:
            raise StageError(
                "decode", f"device {device.name} has no codec and neither has the integration"
            )
        codec = self._codecs.get(codec_id)
        if codec is None:
            try:
                codec = get_codec(codec_id)
            except UnknownCodecError as error:
                if codec_id not in self._imported:
                    raise StageError("decode", str(error)) from None
                codec = self._imported[codec_id]
            self._codecs[codec_id] = codec
        result = codec.decode_uplink(uplink.payload, uplink.f_port, uplink.received_at)
        if result.errors:
            raise StageError(
                "decode",
                f"{codec_id} could not decode {uplink.payload.hex()} on fPort {uplink.f_port}: "
                + "; ".join(result.errors),
            )
        return result.data

    def _validate(self, route: _Route, observed_at: datetime, writes: list[AttributeWrite]) -> None:
        if observed_at > datetime.now(UTC) + self.max_future_skew:
            raise StageError(
                "validate",
                f"{FUTURE_TIMESTAMP}: observation time {format_time(observed_at)} is more than "
                f"{iso_duration(self.max_future_skew)} (pipeline.max_future_skew) ahead of this "
                "server's clock; check the device's or network server's clock",
            )
        if observed_at < self.earliest_observation:
            raise StageError(
                "validate",
                f"{INVALID_TIME}: observation time {format_time(observed_at)} is before "
                f"{format_time(self.earliest_observation)} (pipeline.earliest_observation); "
                "the device's clock is probably not set",
            )
        for write in writes:
            value = write.attribute.get("value")
            # Numbers, most values, are passed over without a call: this runs for every write.
            if "\x00" in write.entity_id or (type(value) not in _NUMBERS and _has_nul(value)):
                # PostgreSQL cannot keep NUL in text or JSON; SQLite could, but a value must not
                # be stored on one backend and refused on the other.
                raise StageError(
                    "validate",
                    f"{write.name} of {printable(write.entity_id)} holds a NUL character, "
                    "which no store keeps; the source sends it, or the mapping takes a binary "
                    "field as text",
                )
            reason = route.quality.rejection(write.name, value)
            if reason is not None:
                raise StageError("validate", reason)


def _status_event(body: bytes, fmt: str) -> DeviceStatus | None:
    """The device status report a message holds instead of an uplink; None if it is not one."""
    if not reads_status(fmt):
        return None
    try:
        return parse_status(body, fmt)
    except EnvelopeError:
        return None


def _observed_at(observations: list[AttributeWrite], uplink: Uplink) -> str:
    """The uplink's time as the mapping wrote it, so that it is formatted only once."""
    for write in observations:
        if write.observed_at is uplink.received_at:
            text = write.attribute.get("observedAt")
            if isinstance(text, str):
                return text
    return format_time(uplink.received_at)


def _unwritten(written: StaticWrites | None, entity_id: str, name: str, value: Any) -> bool:
    """Whether a latest-only attribute is not yet written with this value in this batch."""
    return written is None or written.get((entity_id, name)) != value


def _by_entity(
    writes: list[AttributeWrite],
) -> Iterator[tuple[str, str, dict[str, Any], set[str]]]:
    """Each entity's Property values among ``writes`` and which of them are observations."""
    values: dict[str, dict[str, Any]] = {}
    observed: dict[str, set[str]] = {}
    types: dict[str, str] = {}
    for write in writes:
        if write.attribute.get("type") == "Property":
            values.setdefault(write.entity_id, {})[write.name] = write.attribute.get("value")
            types[write.entity_id] = write.entity_type
            if write.observed_at is not None:
                observed.setdefault(write.entity_id, set()).add(write.name)
    for entity_id, entity_values in values.items():
        yield entity_id, types[entity_id], entity_values, observed.get(entity_id, set())


def _replayed_record(message: InboxMessage) -> dict[str, Any]:
    """The record a replayed record dead letter holds."""
    try:
        record = orjson.loads(message.body)
    except orjson.JSONDecodeError as error:
        raise StageError("parse", f"a replayed record must be a JSON object: {error}") from None
    if not isinstance(record, dict):
        raise StageError("parse", "a replayed record must be a JSON object")
    return record


def _record_letter(
    message: InboxMessage, key: str, stage: str, reason: str, raw: dict[str, Any] | str
) -> NewDeadLetter:
    """The dead letter of one failed record: replayable on its own when it is an object."""
    replayable = isinstance(raw, dict)
    key = printable(key)  # the key comes from the record's own data
    return NewDeadLetter(
        message.source,
        f"{message.message_id}#{key}",
        message.received_at,
        RECORD_CONTENT_TYPE if replayable else message.content_type,
        orjson.dumps(raw) if replayable else str(raw).encode(),
        message.topic,
        stage,
        f"{key}: {reason}",
    )


_NUMBERS = (int, float)


def _has_nul(value: Any) -> bool:
    """Whether a text, or any text inside a structured value, holds a NUL character."""
    if type(value) is str:
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(key) or _has_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_has_nul(item) for item in value)
    return False


def printable(text: str) -> str:
    """``text`` with NUL written as ``\\x00``, so a store can keep it in a reason or an id."""
    return text.replace("\x00", "\\x00")
