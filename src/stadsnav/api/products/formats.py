"""Data product representations: JSON, GeoJSON and CSV."""

from __future__ import annotations

import csv
import io
from typing import Any

import orjson
from fastapi import Request
from starlette.responses import Response

from stadsnav.api.problems import ApiError

FORMATS = {"json": "application/json", "geojson": "application/geo+json", "csv": "text/csv"}


def choose_format(request: Request, fmt: str | None) -> str:
    """``json``, ``geojson`` or ``csv`` from the ``format`` parameter, else the Accept header."""
    if fmt is not None:
        if fmt not in FORMATS:
            raise ApiError(400, f"unknown format {fmt!r}: use json, geojson or csv")
        return fmt
    accept = request.headers.get("accept", "")
    for name, media in FORMATS.items():
        if media in accept:
            return name
    return "json"


def _flat(item: dict[str, Any]) -> dict[str, Any]:
    row = {k: v for k, v in item.items() if k != "location"}
    geometry = item.get("location")
    if isinstance(geometry, dict) and geometry.get("type") == "Point":
        row["longitude"], row["latitude"] = geometry["coordinates"][:2]
    return row


def _feature(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "Feature",
        "id": item["id"],
        "geometry": item.get("location"),
        "properties": {k: v for k, v in item.items() if k != "location"},
    }


def render_items(items: list[dict[str, Any]], fmt: str, meta: dict[str, Any]) -> Response:
    """A list of items in the chosen format."""
    if fmt == "geojson":
        features = [_feature(item) for item in items]
        body = {"type": "FeatureCollection", "features": features, "meta": meta}
        return Response(orjson.dumps(body), media_type=FORMATS["geojson"])
    if fmt == "csv":
        return csv_response([_flat(item) for item in items])
    return Response(orjson.dumps({"data": items, "meta": meta}), media_type=FORMATS["json"])


def render_one(item: dict[str, Any], fmt: str, meta: dict[str, Any]) -> Response:
    """One item in the chosen format."""
    if fmt == "geojson":
        return Response(orjson.dumps(_feature(item)), media_type=FORMATS["geojson"])
    if fmt == "csv":
        return csv_response([_flat(item)])
    return Response(orjson.dumps({"data": item, "meta": meta}), media_type=FORMATS["json"])


def render_rows(rows: list[dict[str, Any]], fmt: str, meta: dict[str, Any], what: str) -> Response:
    """Rows without geometry (a time series, a profile) as JSON or CSV; ``what`` names them."""
    if fmt == "geojson":
        raise ApiError(400, f"{what} has no GeoJSON form: use json or csv")
    if fmt == "csv":
        return csv_response(rows)
    return Response(orjson.dumps({"data": rows, "meta": meta}), media_type=FORMATS["json"])


def _cell(value: Any) -> Any:
    # Spreadsheets and JSON readers alike expect true/false, not Python's True/False.
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def csv_response(rows: list[dict[str, Any]]) -> Response:
    """Rows as CSV with a header of every column seen, in order of appearance."""
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(v) for k, v in row.items()})
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8")
