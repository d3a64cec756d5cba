"""Query parameters several NGSI-LD operations share, declared once for their OpenAPI text."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from stadsnav.api.problems import ApiError
from stadsnav.model.entity_input import is_uri

Lang = Annotated[str | None, Query(description="Language of LanguageProperties.")]
Pick = Annotated[str | None, Query(description="Entity members to keep.")]
Omit = Annotated[str | None, Query(description="Entity members to leave out.")]
Join = Annotated[str | None, Query(description="inline or flat: linked entities.")]
JoinLevel = Annotated[
    str | None, Query(alias="joinLevel", description="How many links deep to join.")
]
ShownDatasets = Annotated[
    str | None, Query(alias="datasetId", description="Instances to return; @none: default.")
]
GeometryProperty = Annotated[
    str | None, Query(alias="geometryProperty", description="GeoJSON geometry attribute.")
]
Local = Annotated[
    bool | None, Query(description="Only this broker's entities (the only ones it has).")
]
OrderBy = Annotated[
    str | None,
    Query(alias="orderBy", description="Members to order by, e.g. name;desc,id (v1.9, 4.23)."),
]
DeletedDataset = Annotated[
    str | None, Query(alias="datasetId", description="The instances of this dataset.")
]
DeleteAll = Annotated[bool, Query(alias="deleteAll", description="The instances of every dataset.")]


def check_deleted_dataset(dataset_id: str | None) -> None:
    """400 BadRequestData when the ``datasetId`` of a deletion is not a URI."""
    if dataset_id is not None and not is_uri(dataset_id):
        raise ApiError(400, f"datasetId {dataset_id!r} is not a URI", ngsild_type="BadRequestData")
