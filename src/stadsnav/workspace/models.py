"""Pydantic models of the workspace files: settings, datasets, devices, entities, integrations."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    model_validator,
)

from stadsnav.connectors.envelopes import FORMATS
from stadsnav.connectors.topics import DEFAULT_UPLINK_TOPICS
from stadsnav.store.factory import SCHEMES
from stadsnav.workspace.fields import (
    CodecId,
    DevEui,
    Email,
    EntityId,
    EnvName,
    IdTemplate,
    Slug,
    SourcePath,
    StrictModel,
    TimeZoneName,
)


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
    public_url: str | None = None
    max_body_bytes: int = Field(default=1_048_576, gt=0)

    @property
    def base_url(self) -> str:
        """The URL clients use: ``public_url``, or one derived from host and port."""
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")


class PipelineSettings(StrictModel):
    """``[pipeline]``: batch runner tuning."""

    batch_size: int = Field(default=500, gt=0)
    poll_interval: float = Field(default=0.2, gt=0)
    max_future_skew: timedelta = timedelta(minutes=5)


class MqttSettings(StrictModel):
    """``[mqtt]``: the broker the MQTT connectors subscribe to."""

    url: str = "mqtt://127.0.0.1:1883"
    username: str | None = None
    password: str | None = None


class Settings(StrictModel):
    """The whole ``stadsnav.toml``."""

    workspace: WorkspaceSettings
    storage: StorageSettings = StorageSettings()
    server: ServerSettings = ServerSettings()
    pipeline: PipelineSettings = PipelineSettings()
    mqtt: MqttSettings = MqttSettings()


# datasets/*.yaml


class Owner(StrictModel):
    """Who answers for a dataset."""

    name: str
    email: Email


class RangeRule(StrictModel):
    """Valid range of a numeric attribute; values outside are rejected."""

    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _ordered(self) -> RangeRule:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        return self


class Dataset(StrictModel):
    """A governed collection of entities: owner, classification, licence, quality rules."""

    id: Slug
    title: str
    description: str = ""
    owner: Owner
    classification: Literal["open", "internal", "personal"]
    licence: str | None = None
    entity_types: list[str] = []
    freshness: timedelta | None = None
    rules: dict[str, RangeRule] = {}


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
DEFAULT_TOPICS = list(DEFAULT_UPLINK_TOPICS)


class WebhookSource(StrictModel):
    """Uplinks pushed over HTTP by a network server."""

    type: Literal["webhook"]
    format: Format = "auto"
    token_env: EnvName | None = None


class MqttSource(StrictModel):
    """Uplinks read from the MQTT broker of ``[mqtt]``."""

    type: Literal["mqtt"]
    format: Format = "auto"
    topics: list[str] = Field(default_factory=lambda: list(DEFAULT_TOPICS))
    qos: Literal[0, 1, 2] = 1
    client_id: str | None = None


Source = Annotated[WebhookSource | MqttSource, Field(discriminator="type")]


class PropertyMapping(StrictModel):
    """Where one Property's value comes from."""

    value: SourcePath
    unit_code: str | None = None
    required: bool = False


class Mapping(StrictModel):
    """How a decoded uplink becomes an NGSI-LD entity."""

    entity_type: str = Field(min_length=1)
    entity_id: IdTemplate
    properties: dict[str, PropertyMapping] = {}
    relationships: dict[str, SourcePath] = {}
    location: SourcePath | None = None


class Integration(StrictModel):
    """One inbound flow: a source, a default codec and a mapping into a dataset."""

    id: Slug
    title: str
    description: str = ""
    dataset: str
    source: Source
    codec: CodecId | None = None
    mapping: Mapping


# products/*.yaml


class Observation(StrictModel):
    """The latest observation joined onto each listed entity."""

    entity_type: str
    relationship: str
    dataset: str
    values: dict[str, str] = {}
    history: Slug | None = None


class Product(StrictModel):
    """A simple REST view served at ``/api/v1/{path}``."""

    id: Slug
    title: str
    description: str = ""
    path: Slug
    dataset: str
    entity_type: str
    fields: dict[str, str] = {}
    observation: Observation | None = None


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
