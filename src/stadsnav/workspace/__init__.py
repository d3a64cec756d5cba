"""The workspace: stadsnav.toml and YAML files kept in git, their models, loading and lint."""

from stadsnav.workspace.fields import template_paths
from stadsnav.workspace.lint import lint_workspace
from stadsnav.workspace.loader import load_workspace
from stadsnav.workspace.models import (
    Dataset,
    Device,
    DeviceFile,
    EntityFile,
    Filter,
    Integration,
    Mapping,
    MqttSettings,
    MqttSource,
    Observation,
    Owner,
    PipelineSettings,
    Point,
    Product,
    PropertyMapping,
    RangeRule,
    SeedEntity,
    ServerSettings,
    Settings,
    StorageSettings,
    WebhookSource,
    Workspace,
    WorkspaceSettings,
)
from stadsnav.workspace.problems import Problem, WorkspaceError
from stadsnav.workspace.sources import HttpPollSource

__all__ = [
    "Dataset",
    "Device",
    "DeviceFile",
    "EntityFile",
    "Filter",
    "HttpPollSource",
    "Integration",
    "Mapping",
    "MqttSettings",
    "MqttSource",
    "Observation",
    "Owner",
    "PipelineSettings",
    "Point",
    "Problem",
    "Product",
    "PropertyMapping",
    "RangeRule",
    "SeedEntity",
    "ServerSettings",
    "Settings",
    "StorageSettings",
    "WebhookSource",
    "Workspace",
    "WorkspaceError",
    "WorkspaceSettings",
    "lint_workspace",
    "load_workspace",
    "template_paths",
]
