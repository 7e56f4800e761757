"""Import and export endpoints: files in, files out, all or nothing."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, File, Query, UploadFile
from starlette.responses import Response

from ducting.auth import EditorDep, ReaderDep
from ducting.db import SessionDep
from ducting.errors import InvalidInput, TooLarge, read_faults
from ducting.network.exporter import EXPORT_FORMATS, export_filename, export_network
from ducting.network.importer import import_layers
from ducting.network.schemas import ImportOut
from ducting.replica import ReadSessionDep
from ducting.schemas_base import file_responses
from ducting.settings import get_settings
from gis.io import ReadError, read_layers

router = APIRouter(prefix="/api/v1/network", tags=["network files"])


@router.post(
    "/import", response_model=ImportOut, summary="Import a network file; dry_run=true reports what would change"
)
async def import_network(
    session: SessionDep,
    actor: EditorDep,
    file: Annotated[UploadFile, File(description="GeoJSON, GeoPackage, zipped Shapefile, KML/KMZ or CSV")],
    dry_run: bool = Query(default=True, description="Check and report only (the default)"),
    crs: str | None = Query(default=None, description="CRS when the file does not name one"),
) -> dict[str, Any]:
    limit = get_settings().api.max_body_bytes
    data = await file.read(limit + 1)
    if len(data) > limit:
        raise TooLarge(what="file", limit_bytes=limit)
    try:
        layers = read_layers(data, _safe_name(file.filename), crs=crs)
    except ReadError as exc:
        raise InvalidInput(code=exc.code, errors=read_faults(exc, "row/{row}"), **exc.facts) from exc
    report = import_layers(session, layers, dry_run=dry_run)
    if not dry_run:
        session.commit()
    return report.as_dict()


def _safe_name(name: str | None) -> str:
    """Only the extension of an uploaded name matters; never use it as a path."""
    base = re.sub(r"[^A-Za-z0-9._-]", "_", (name or "upload").rsplit("/", 1)[-1].rsplit("\\", 1)[-1])
    return base[-100:] or "upload"


@router.get(
    "/export",
    response_class=Response,
    summary="Export the live network",
    responses=file_responses("The network file, in the media type of its format", "application/octet-stream"),
)
def export(
    session: ReadSessionDep,
    actor: ReaderDep,
    format: str = Query(default="gpkg", description=f"One of {', '.join(EXPORT_FORMATS)}"),
) -> Response:
    if format not in EXPORT_FORMATS:
        raise InvalidInput(code="unsupported_format", format=format[:20], formats=list(EXPORT_FORMATS))
    content, media, ext = export_network(session, format)
    return Response(
        content,
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="{export_filename(format, ext)}"'},
    )
