"""Pydantic models of the workspace files: settings, datasets, devices, entities, integrations."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Final, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from stadsnav.connectors.envelopes import FORMATS
from stadsnav.connectors.topics import DEFAULT_UPLINK_TOPICS
from stadsnav.gateway.keys import SCOPE
from stadsnav.store.factory import SCHEMES
from stadsnav.workspace.fields import (
    CodecId,
    DevEui,
    Email,
    EntityId,
    EnvName,
    IdTemplate,
    Slug,
    SlugPath,
    SourcePath,
    StrictModel,
    TimeZoneName,
)
from stadsnav.workspace.sources import HttpPollSource


class Point(BaseModel):
    """A WGS 84 position; written ``{lon: x, lat: y}`` or ``[lon, lat]``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)

    @model_validator(mode="before")
    @classmethod
    def _from_pair(cls, value: Any) -> Any:
        if isinstance(value, list | tuple):
            if len(value) != 2:
                raise ValueError("a point is [lon, lat]: exactly two numbers")
            return {"lon": value[0], "lat": value[1]}
        if isinstance(value, dict) and value.get("type") == "Point":
            return _from_pair_of(value.get("coordinates"))
        return value

    def geojson(self) -> dict[str, Any]:
        """The point as a GeoJSON geometry."""
        return {"type": "Point", "coordinates": [self.lon, self.lat]}


def _from_pair_of(coordinates: Any) -> Any:
    if isinstance(coordinates, list) and len(coordinates) == 2:
        return {"lon": coordinates[0], "lat": coordinates[1]}
    raise ValueError("GeoJSON Point coordinates must be [lon, lat]")


# stadsnav.toml


class WorkspaceSettings(StrictModel):
    """``[workspace]``: the municipality's name and local time zone."""

    name: str = Field(min_length=1)
    timezone: TimeZoneName = "UTC"


class StorageSettings(StrictModel):
    """``[storage]``: where the context store lives."""

    url: str = "sqlite:///data/stadsnav.db"

    @model_validator(mode="after")
    def _known_scheme(self) -> StorageSettings:
        # The store's own list, so a URL that lints clean also opens.
        if not self.url.startswith(SCHEMES):
            scheme = self.url.partition("://")[0]  # the rest may hold a password
            raise ValueError(
                f"storage url scheme {scheme!r} is not supported: use {' or '.join(SCHEMES)}"
            )
        return self

    def resolved_url(self, root: Path) -> str:
        """The URL with a relative SQLite path made absolute against the workspace root."""
        prefix = "sqlite:///"
        if not self.url.startswith(prefix) or self.url.startswith(prefix + "/"):
            return self.url
        return prefix + str((root / self.url.removeprefix(prefix)).resolve())


class ServerSettings(StrictModel):
    """``[server]``: the HTTP listener."""

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    max_body_bytes: int = Field(default=1_048_576, gt=0)
    max_header_bytes: int = Field(default=16_384, ge=1024)
    """Largest sum of a request's header names and values; larger requests get 431."""
    switch_interval: float = Field(default=0.001, gt=0, le=0.1)
    """Seconds a Python thread may hold the interpreter while another waits for it."""


class PipelineSettings(StrictModel):
    """``[pipeline]``: batch runner tuning."""

    batch_size: int = Field(default=500, gt=0)
    poll_interval: float = Field(default=0.2, gt=0)
    gather_seconds: float = Field(default=0.02, ge=0, le=1)
    """Once woken after a short batch, wait this long so the next batch is fuller and cheaper."""
    max_future_skew: timedelta = timedelta(minutes=5)
    earliest_observation: AwareDatetime = datetime(2000, 1, 1, tzinfo=UTC)
    """Observations dated before this are rejected as ``invalid_time`` (a device clock at 0)."""
    max_attempts: int = Field(default=3, ge=1, le=100)
    """Tries of a poison message (mapping failed, codec crashed) before it is dead-lettered."""
    retry_backoff: timedelta = Field(default=timedelta(seconds=2), gt=timedelta(0))
    """Wait before the first retry; doubled before each further one."""
    inbox_queue: int = Field(default=10_000, ge=1)
    """Most messages that may wait for their commit to the inbox at once; past it webhook
    senders get 503 and MQTT messages wait at the broker."""
    dedupe_window: timedelta = Field(default=timedelta(days=1), gt=timedelta(0))
    """How long a message id is remembered: a redelivery within it is dropped as a duplicate,
    and the same id with other content is dead-lettered as a conflict."""


class MqttSettings(StrictModel):
    """``[mqtt]``: the broker the MQTT connectors subscribe to."""

    url: str = "mqtt://127.0.0.1:1883"
    username: str | None = None
    password: str | None = None
    protocol: Literal["5", "3.1.1"] = "5"
    """MQTT version spoken; "3.1.1" for a broker without MQTT 5 (The Things Stack's MQTT server)."""
    max_message_bytes: int = Field(default=1_048_576, ge=1024, le=268_435_455)
    """Largest MQTT packet (payload, topic and headers) the broker may send us (MQTT 5 Maximum
    Packet Size). The broker drops a larger message for us, so it never reaches the dead letters;
    over MQTT 3.1.1 it cannot be declared: a larger message is read, then dropped."""
    session_expiry: timedelta = Field(default=timedelta(days=7), gt=timedelta(0))
    """How long the broker keeps an integration's session (and its queued messages) while no
    one is connected to it: longer than any planned stop, short enough that the session of a
    renamed or removed integration does not hold messages forever (MQTT 5 only)."""


class NgsildSettings(StrictModel):
    """``[ngsild]``: the NGSI-LD API's JSON-LD @contexts."""

    context_timeout: float = Field(default=5.0, gt=0, le=60)
    """Seconds to wait for a user @context document before answering LdContextNotAvailable."""
    context_ttl: timedelta = Field(default=timedelta(days=1), gt=timedelta(0))
    """How long a fetched @context is used before it is fetched again."""
    context_max_bytes: int = Field(default=1_048_576, ge=1024, le=67_108_864)
    """Largest @context document fetched or accepted by POST /jsonldContexts."""
    context_cache_entries: int = Field(default=256, ge=1)
    """Most fetched @context documents kept; the least recently used goes first."""
    context_cache_bytes: int = Field(default=16_777_216, ge=1024)
    """Most bytes of fetched @context documents kept; the least recently used goes first."""
    temporal_instances: int = Field(default=10_000, ge=1, le=100_000)
    """Most instances of one attribute in one temporal answer; more are paged (206 with
    Content-Range)."""
    contexts: dict[str, str] = {}
    """@context URLs answered from a file in the workspace instead of fetched: URL → path."""

    @model_validator(mode="after")
    def _consistent(self) -> NgsildSettings:
        if self.context_cache_bytes < self.context_max_bytes:
            raise ValueError(
                "context_cache_bytes must be at least context_max_bytes, "
                "or the largest context allowed could never be cached"
            )
        for url, path in self.contexts.items():
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"contexts: {url!r} is not an http(s) URL")
            if Path(path).is_absolute() or ".." in Path(path).parts:
                raise ValueError(f"contexts: {path!r} must be a path inside the workspace")
        return self


class PlanSettings(StrictModel):
    """``[gateway.plans.<name>]``: how much a caller on the plan may ask; an unset limit is none
    (docs/gateway.md, Plans)."""

    rate: float | None = Field(default=None, gt=0)
    """Requests per second, sustained."""
    burst: int | None = Field(default=None, gt=0)
    """Requests that may come at once after a quiet spell; default: one second's worth."""
    daily_quota: int | None = Field(default=None, gt=0)
    """Requests per day (midnight to midnight in the workspace's time zone)."""
    monthly_quota: int | None = Field(default=None, gt=0)
    """Requests per calendar month."""
    max_page_size: int | None = Field(default=None, gt=0)
    """Largest ``limit`` a request may ask for."""
    max_body_bytes: int | None = Field(default=None, gt=0)
    """Largest request body; ``server.max_body_bytes`` caps every plan."""
    max_header_bytes: int | None = Field(default=None, gt=0)
    """Largest sum of header names and values; ``server.max_header_bytes`` caps every plan."""
    max_query_terms: int | None = Field(default=None, gt=0)
    """Most terms in a ``q`` query (``a>1;b==2`` has two)."""
    max_geometry_vertices: int | None = Field(default=None, gt=0)
    """Most positions in a geo-query's ``coordinates``."""
    timeout: float | None = Field(default=None, gt=0, le=600)
    """Seconds a request may take before it is answered 503."""

    @property
    def limits_queries(self) -> bool:
        """Whether the plan limits anything a query string says (page, q terms, geometry)."""
        limits = (self.max_page_size, self.max_query_terms, self.max_geometry_vertices)
        return any(limit is not None for limit in limits)

    @property
    def bursts(self) -> int | None:
        """The burst in effect: the one set, or one second's worth of the rate."""
        if self.rate is None:
            return None
        return self.burst or max(1, math.ceil(self.rate))


DEFAULT_PLANS: Final = {
    "anonymous": PlanSettings(
        rate=10,
        burst=50,
        daily_quota=20_000,
        max_page_size=100,
        max_body_bytes=65_536,
        max_query_terms=10,
        max_geometry_vertices=500,
        timeout=30,
    ),
    "open-data-app": PlanSettings(
        rate=20,
        burst=100,
        daily_quota=100_000,
        monthly_quota=2_000_000,
        max_page_size=1000,
        max_body_bytes=262_144,
        max_query_terms=20,
        max_geometry_vertices=2000,
        timeout=30,
    ),
    "partner": PlanSettings(
        rate=50,
        burst=200,
        daily_quota=500_000,
        max_page_size=1000,
        max_query_terms=20,
        max_geometry_vertices=2000,
        timeout=60,
    ),
    "internal": PlanSettings(max_page_size=1000, timeout=120),
}
"""The plans every workspace has; ``[gateway.plans.<name>]`` replaces one or adds another."""


class IssuerSettings(StrictModel):
    """``[gateway.issuers.<name>]``: an OpenID Connect provider (Keycloak, Entra ID) whose access
    tokens the APIs accept, and how their claims become scopes (docs/gateway.md, Tokens)."""

    issuer: str = Field(min_length=1)
    """The tokens' ``iss``: ``https://login.skelleftea.se/realms/city``."""
    jwks_url: str = Field(pattern=r"^https?://")
    """Where the provider publishes its signing keys (its discovery document's ``jwks_uri``)."""
    audience: str = "stadsnav"
    """The ``aud`` the tokens must name."""
    scopes_claim: str = "scope"
    """The claim whose values are mapped: a space-separated string or a list (``roles``)."""
    scopes: dict[str, list[str]] = {}
    """Claim value → the Stadsnav scopes it grants; a value not named grants nothing."""
    plan: Slug | None = None
    """The plan of its callers (default: ``key_plan``)."""
    purpose: str | None = None
    """The purpose recorded with its callers' reads of personal data (needed for them)."""

    @field_validator("scopes")
    @classmethod
    def _known_scopes(cls, scopes: dict[str, list[str]]) -> dict[str, list[str]]:
        bad = [
            scope for granted in scopes.values() for scope in granted if not SCOPE.fullmatch(scope)
        ]
        if bad:
            raise ValueError(f"{bad}: give admin, read or write, alone or for a dataset")
        return scopes


class GatewaySettings(StrictModel):
    """``[gateway]``: who may use the APIs without an API key, and the plans that limit callers
    (docs/gateway.md)."""

    anonymous_scopes: list[str] = []
    """Scopes every caller has, with or without a key, on top of reading open datasets. Keep it
    empty in production; ``["read", "write"]`` opens every non-personal dataset to anyone, for a
    laboratory or a conformance test run."""
    plans: dict[Slug, PlanSettings] = Field(default_factory=lambda: dict(DEFAULT_PLANS))
    """The plans, by name: the four default ones with these replacing or adding to them."""
    anonymous_plan: Slug = "anonymous"
    """The plan of callers without a key, each client address counted on its own."""
    key_plan: Slug = "open-data-app"
    """The plan of a key issued without one."""
    limits_url: str = ""
    """Where rate and quota counters live: empty for this process's memory (one API process),
    ``redis://host:port/db`` to share them among several API processes."""
    quota_warning: float = Field(default=0.8, gt=0, lt=1)
    """Share of a quota after which answers carry a warning and the key's owner is notified."""
    usage_flush: float = Field(default=10.0, gt=0, le=3600)
    """Seconds between two writes of the usage counted in memory to the store."""
    token_secret: str = ""
    """The secret that signs and checks the access tokens of ``POST /oauth/token``; empty: a
    random one per process (tokens then work only on the process that issued them)."""
    token_lifetime: timedelta = Field(default=timedelta(minutes=5), gt=timedelta(0))
    """How long an access token is valid (at most one day)."""
    issuers: dict[Slug, IssuerSettings] = {}
    """OpenID Connect providers whose tokens are accepted, by a name of the city's choice."""

    @field_validator("plans", mode="before")
    @classmethod
    def _over_defaults(cls, plans: Any) -> Any:
        return {**DEFAULT_PLANS, **plans} if isinstance(plans, dict) else plans

    @field_validator("token_secret")
    @classmethod
    def _long_secret(cls, secret: str) -> str:
        if secret and len(secret) < 32:
            raise ValueError("give at least 32 characters (openssl rand -base64 32 makes one)")
        return secret

    @field_validator("limits_url")
    @classmethod
    def _redis_or_memory(cls, url: str) -> str:
        if url and not url.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError(f"{url!r}: leave it empty, or give a redis:// URL")
        return url

    @model_validator(mode="after")
    def _plans_exist(self) -> GatewaySettings:
        if self.token_lifetime > timedelta(days=1):
            raise ValueError("token_lifetime: at most P1D; tokens are meant to be short-lived")
        named = [(setting, getattr(self, setting)) for setting in ("anonymous_plan", "key_plan")]
        named += [(f"issuers.{n}.plan", i.plan) for n, i in self.issuers.items() if i.plan]
        for setting, name in named:
            if name not in self.plans:
                known = ", ".join(sorted(self.plans))
                raise ValueError(f"{setting} {name!r} is not a plan: give one of {known}")
        return self

    @field_validator("anonymous_scopes")
    @classmethod
    def _known_scopes(cls, scopes: list[str]) -> list[str]:
        bad = [scope for scope in scopes if not SCOPE.fullmatch(scope)]
        if bad:
            raise ValueError(f"{bad}: give read or write, alone or for a dataset (read:parking)")
        if "admin" in scopes:
            raise ValueError("admin cannot be given to anonymous callers")
        return scopes


class NotificationSettings(StrictModel):
    """``[notifications]``: how NGSI-LD subscriptions are matched and notified."""

    poll_interval: float = Field(default=0.2, gt=0, le=60)
    """Seconds between two looks at the change feed and at the notifications waiting."""
    timeout: float = Field(default=10.0, gt=0, le=300)
    """Seconds a subscriber has to answer before the attempt counts as failed."""
    max_attempts: int = Field(default=5, ge=1, le=100)
    """Attempts at delivering a notification before it is given up."""
    retry_backoff: timedelta = Field(default=timedelta(seconds=1), gt=timedelta(0))
    """Wait after a failed attempt; doubled after each further failure, up to retry_max."""
    retry_max: timedelta = Field(default=timedelta(minutes=5), gt=timedelta(0))
    """Longest wait between two attempts at one subscriber."""
    max_concurrent: int = Field(default=32, ge=1, le=1000)
    """Notifications sent at once, to all subscribers together; each subscriber gets one at a
    time."""
    max_entities: int = Field(default=1000, ge=1, le=100_000)
    """Most entities in one notification; more waiting for one subscriber go in the next."""


class Settings(StrictModel):
    """The whole ``stadsnav.toml``."""

    workspace: WorkspaceSettings
    storage: StorageSettings = StorageSettings()
    server: ServerSettings = ServerSettings()
    pipeline: PipelineSettings = PipelineSettings()
    mqtt: MqttSettings = MqttSettings()
    ngsild: NgsildSettings = NgsildSettings()
    notifications: NotificationSettings = NotificationSettings()
    gateway: GatewaySettings = GatewaySettings()


# datasets/*.yaml


class Owner(StrictModel):
    """Who answers for a dataset."""

    name: str
    email: Email


class RangeRule(StrictModel):
    """Plausible values of an attribute: a range, and how long it may stay unchanged."""

    min: float | None = None
    max: float | None = None
    flag: bool = False
    """Keep a value outside the range, flagged as a quality issue, instead of rejecting it."""
    stuck_after: timedelta | None = Field(default=None, gt=timedelta(0))
    """A value unchanged for longer than this is flagged: the sensor is probably stuck."""

    @model_validator(mode="after")
    def _ordered(self) -> RangeRule:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        return self


class SumCheck(StrictModel):
    """Attributes of one entity that must add up; a feed that contradicts itself is flagged."""

    sum: list[str] = Field(min_length=1)
    equals: str | None = None
    at_most: str | None = None

    @model_validator(mode="after")
    def _one_bound(self) -> SumCheck:
        if (self.equals is None) == (self.at_most is None):
            raise ValueError("a check needs exactly one of 'equals' and 'at_most'")
        return self

    @property
    def bound(self) -> str:
        """The attribute the sum is compared with."""
        return self.equals or self.at_most or ""


class Dataset(StrictModel):
    """A governed collection of entities: owner, classification, licence, quality rules."""

    id: Slug
    title: str
    description: str = ""
    owner: Owner
    classification: Literal["open", "internal", "personal"]
    licence: str | None = None
    entity_types: list[str] = []
    identifying: list[str] = []
    """Attributes whose values identify a person (a name, an address): shown only to keys with
    ``identify:<dataset>``, never queried by others (docs/gateway.md, Personal data)."""
    freshness: timedelta | None = None
    rules: dict[str, RangeRule] = {}
    checks: list[SumCheck] = []


# devices/*.yaml


class Device(StrictModel):
    """A physical device, known by its DevEUI."""

    dev_eui: DevEui
    name: Slug
    codec: CodecId | None = None
    measures: list[str] = []
    site: str | None = None
    location: Point | None = None
    properties: dict[str, Any] = {}


class DeviceFile(StrictModel):
    """A ``devices/*.yaml`` file."""

    devices: list[Device]


# entities/*.yaml


class SeedEntity(BaseModel):
    """An entity declared in the workspace (a Beach, a car park); other keys are Properties."""

    model_config = ConfigDict(extra="allow")

    id: EntityId
    type: str = Field(min_length=1)
    dataset: str
    location: Point | None = None

    def attributes(self) -> dict[str, Any]:
        """The entity's other Properties, as written."""
        return dict(self.model_extra or {})


class EntityFile(StrictModel):
    """An ``entities/*.yaml`` file."""

    entities: list[SeedEntity]


# integrations/*.yaml


def _known_format(value: str) -> str:
    if value not in FORMATS:
        raise ValueError(f"unknown envelope format {value!r}: use one of {', '.join(FORMATS)}")
    return value


Format = Annotated[str, AfterValidator(_known_format)]


class WebhookSource(StrictModel):
    """Uplinks pushed over HTTP by a network server."""

    type: Literal["webhook"]
    format: Format = "auto"
    token_env: EnvName | None = None


class MqttSource(StrictModel):
    """Uplinks read from the MQTT broker of ``[mqtt]``."""

    type: Literal["mqtt"]
    format: Format = "auto"
    topics: list[str] = Field(default_factory=lambda: list(DEFAULT_UPLINK_TOPICS))
    qos: Literal[0, 1, 2] = 1
    client_id: str | None = None


Source = Annotated[WebhookSource | MqttSource | HttpPollSource, Field(discriminator="type")]


def _lookup_keys(value: Any) -> Any:
    # YAML reads `true:` and `1:` as a boolean and a number; keys are matched as JSON text.
    if isinstance(value, dict):
        return {lookup_key(key): item for key, item in value.items()}
    return value


def lookup_key(value: Any) -> str:
    """A decoded value as a ``lookup`` key: JSON's spelling (``true``, ``1``, ``free``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class PropertyMapping(StrictModel):
    """Where one Property's value comes from: a path, or a constant."""

    value: SourcePath | None = None
    constant: Any = None
    """The same value for every message (an operator's name the feed does not carry)."""
    unit_code: str | None = None
    required: bool = False
    lookup: Annotated[dict[str, Any] | None, BeforeValidator(_lookup_keys)] = None
    """Decoded value → stored value (``true: occupied``); a value not listed is an error."""
    static: bool = False
    """A description (a name, a capacity) rather than an observation: latest only, no history."""

    @model_validator(mode="after")
    def _one_source(self) -> PropertyMapping:
        if (self.value is None) == (self.constant is None):
            raise ValueError("give either value (a path) or constant, not both or neither")
        return self


class PointPaths(StrictModel):
    """Where a point's longitude and latitude are, for sources that give them apart."""

    lon: SourcePath
    lat: SourcePath


class Mapping(StrictModel):
    """How a decoded uplink becomes an NGSI-LD entity."""

    entity_type: str = Field(min_length=1)
    entity_id: IdTemplate
    properties: dict[str, PropertyMapping] = {}
    relationships: dict[str, SourcePath] = {}
    location: SourcePath | PointPaths | None = None
    """A GeoJSON geometry's path, or the paths of a longitude and a latitude."""
    observed_at: SourcePath | None = None
    """Where the observation time is (RFC 3339); by default the time the message arrived."""


class Rollup(StrictModel):
    """Counts the state of many mapped entities (parking spots) into the one they belong to."""

    relationship: str
    """The mapped entity's Relationship naming the entity counted into (``refParkingSite``)."""
    property: str
    """The Property whose values are counted (``status``)."""
    counts: dict[str, str] = Field(min_length=1)
    """Value → the attribute of the parent that holds how many have it (``free: ...``)."""
    total: str | None = None
    """The parent's attribute for how many entities belong to it (``totalSpotNumber``)."""


class Integration(StrictModel):
    """One inbound flow: a source, a default codec and a mapping into a dataset."""

    id: Slug
    title: str
    description: str = ""
    dataset: str
    source: Source
    codec: CodecId | None = None
    mapping: Mapping
    rollup: Rollup | None = None


# products/*.yaml


class Observation(StrictModel):
    """The latest observed values of each listed entity, from it or from related entities."""

    entity_type: str | None = None
    """The observing entities' type; without it, the listed entity's own attributes."""
    relationship: str | None = None
    """The observing entities' Relationship to the listed entity."""
    dataset: str
    values: dict[str, str] = {}
    history: Slug | None = None
    """Route of the time series, ``/{id}/<history>``."""
    profile: Slug | None = None
    """Route of the typical values by weekday and hour, ``/{id}/<profile>``."""
    when_stale: Literal["flag", "unknown"] = "flag"
    """``flag``: show old values with ``stale: true``; ``unknown``: show no values."""

    @model_validator(mode="after")
    def _joined_both_ways(self) -> Observation:
        if (self.entity_type is None) != (self.relationship is None):
            raise ValueError("give both entity_type and relationship, or neither")
        return self


class Filter(StrictModel):
    """A query parameter that filters the listed items by one of their fields."""

    field: str
    op: Literal["eq", "min", "max"]
    description: str = ""


class Product(StrictModel):
    """A simple REST view served at ``/api/v1/{path}``."""

    id: Slug
    title: str
    description: str = ""
    path: SlugPath
    dataset: str
    entity_type: str | list[str]
    fields: dict[str, str] = {}
    observation: Observation | None = None
    filters: dict[str, Filter] = {}

    @property
    def entity_types(self) -> list[str]:
        """The listed entity types."""
        return [self.entity_type] if isinstance(self.entity_type, str) else self.entity_type

    def item_fields(self) -> list[str]:
        """Every key an item of the product can have, in output order."""
        names = ["id", *self.fields, "location"]
        observation = self.observation
        if observation is not None:
            names += [*observation.values, "observedAt", "stale", "suspect"]
            names += ["availability"] if observation.when_stale == "unknown" else []
            names += ["sensor"] if observation.entity_type is not None else []
        return [*names, "distance"]


@dataclass(slots=True)
class Workspace:
    """A loaded, valid workspace."""

    root: Path
    settings: Settings
    datasets: dict[str, Dataset] = field(default_factory=dict)
    devices: dict[str, Device] = field(default_factory=dict)
    entities: list[SeedEntity] = field(default_factory=list)
    integrations: dict[str, Integration] = field(default_factory=dict)
    products: dict[str, Product] = field(default_factory=dict)

    def dataset_for_type(self, entity_type: str) -> Dataset | None:
        """The dataset whose ``entity_types`` lists this type."""
        return next((d for d in self.datasets.values() if entity_type in d.entity_types), None)

    def device(self, dev_eui: str) -> Device | None:
        """The device with this DevEUI (any case)."""
        return self.devices.get(dev_eui.lower())

    def entity(self, entity_id: str) -> SeedEntity | None:
        """The seed entity with this id."""
        return next((e for e in self.entities if e.id == entity_id), None)

    @property
    def storage_url(self) -> str:
        """The storage URL, a relative SQLite path resolved against the workspace root."""
        return self.settings.storage.resolved_url(self.root)
