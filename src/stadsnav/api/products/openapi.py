"""OpenAPI descriptions of a product's answers, built from its declaration."""

from __future__ import annotations

from typing import Any

from stadsnav.api.products.view import ProductView

_GEOMETRY = {
    "type": ["object", "null"],
    "description": "GeoJSON geometry of the item (WGS 84 longitude, latitude)",
}
_META = {
    "type": "object",
    "description": (
        "product, title, licence, generatedAt; staleAfterSeconds when observations go stale; "
        "units (UN/CEFACT codes) of observed fields where known"
    ),
}


def item_schema(view: ProductView) -> dict[str, Any]:
    """The JSON Schema of one item."""
    properties: dict[str, Any] = {"id": {"type": "string", "description": "the entity's URN"}}
    for field, attr in view.product.fields.items():
        properties[field] = {"description": f"the entity's `{attr}`"}
    properties["location"] = _GEOMETRY
    observation = view.observation
    if observation is not None:
        unknown = observation.when_stale == "unknown"
        for field, attr in observation.values.items():
            text = f"the newest observed `{attr}`"
            if field in view.units:
                text += f" (unit {view.units[field]})"
            if unknown:
                text += "; null when stale or never observed"
            properties[field] = {"description": text}
        properties["observedAt"] = {
            "type": ["string", "null"],
            "format": "date-time",
            "description": (
                "when the newest observed value was observed, also when it is stale, so a "
                "client can say 'no data since …'; null when never observed"
            ),
        }
        properties["stale"] = {
            "type": "boolean",
            "description": (
                "true when observedAt is older than meta.staleAfterSeconds, or there is no "
                "observation at all"
            ),
        }
        properties["suspect"] = {
            "type": "boolean",
            "description": (
                "true when the entity the values come from has quality issues (its NGSI-LD "
                "`qualityIssues`): a value outside the dataset's range, counts that do not add "
                "up, or a value unchanged for longer than the rule's `stuck_after`"
            ),
        }
        if unknown:
            properties["availability"] = {
                "type": "string",
                "enum": ["known", "unknown"],
                "description": (
                    "unknown when stale: the observed values are then null, never an old "
                    "value shown as current"
                ),
            }
        if view.related:
            properties["sensor"] = {
                "type": ["string", "null"],
                "description": "the observing entity the values come from",
            }
    properties["distance"] = {
        "type": "integer",
        "description": "metres from `near`; only when near is given",
    }
    return {"type": "object", "properties": properties, "required": ["id"]}


def list_responses(view: ProductView) -> dict[int | str, dict[str, Any]]:
    """The list operation's answers in JSON, GeoJSON and CSV."""
    data = {"type": "array", "items": item_schema(view)}
    return _answers({"type": "object", "properties": {"data": data, "meta": _META}})


def one_responses(view: ProductView) -> dict[int | str, dict[str, Any]]:
    """The single-item operation's answers."""
    body = {"type": "object", "properties": {"data": item_schema(view), "meta": _META}}
    return _answers(body) | {404: {"description": "no such item in this product"}}


def profile_responses(view: ProductView) -> dict[int | str, dict[str, Any]]:
    """The profile operation's answers."""
    assert view.observation is not None
    row: dict[str, Any] = {
        "weekday": {"type": "integer", "minimum": 1, "maximum": 7, "description": "1 = Monday"},
        "hour": {"type": "integer", "minimum": 0, "maximum": 23, "description": "local hour"},
    }
    for field, attr in view.observation.values.items():
        row[field] = {
            "type": ["number", "null"],
            "description": f"mean of the numeric `{attr}` observations in this hour",
        }
    row["samples"] = {"type": "integer", "description": "observations averaged"}
    data = {"type": "array", "items": {"type": "object", "properties": row}}
    body = {"type": "object", "properties": {"data": data, "meta": _META}}
    return {
        200: {
            "description": "one row per weekday and hour with data",
            "content": {"application/json": {"schema": body}, "text/csv": {}},
        },
        404: {"description": "no such item in this product"},
    }


def _answers(body: dict[str, Any]) -> dict[int | str, dict[str, Any]]:
    return {
        200: {
            "description": "JSON (default), GeoJSON or CSV, by `format` or the Accept header",
            "content": {
                "application/json": {"schema": body},
                "application/geo+json": {},
                "text/csv": {},
            },
        },
        400: {"description": "a parameter is not usable; the ProblemDetails say which"},
    }
