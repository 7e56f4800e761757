"""What every response model shares: the shape is exact (a key the model does not name is an error, caught by the
tests, never silently dropped), and decimal figures (Rupiah, metres, rates) travel as text, never as floats.

Routes return plain dicts and name their model in `response_model=`: FastAPI validates the dict once and pydantic
writes the JSON, so a list of a thousand invoices is not built twice."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

# Decimal in, text out: the value is kept exactly as given (a Decimal or its text) and written as "5510760.00"
DecimalText = Annotated[Decimal, Field(description="A decimal number as text, e.g. 5510760.00")]
MonthText = Annotated[str, Field(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$", description="YYYY-MM")]


class Out(BaseModel):
    """Base of the `<Thing>Out` response models."""

    model_config = ConfigDict(extra="forbid")


class GeometryOut(BaseModel):
    """A GeoJSON geometry in EPSG:4326, [lon, lat], as PostGIS wrote it (ST_AsGeoJSON)."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["Point", "LineString", "Polygon", "MultiPoint", "MultiLineString", "MultiPolygon"]
    coordinates: list[Any]


def file_responses(description: str, *media_types: str) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route that sends a file (CSV, PDF, an image, a tile): the body is bytes of these types."""
    binary = {"schema": {"type": "string", "format": "binary"}}
    return {200: {"description": description, "content": dict.fromkeys(media_types, binary)}}
