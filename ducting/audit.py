"""Searching and exporting the audit trail: `GET /api/v1/audit` (pages, newest first) and `GET /api/v1/audit.csv`.

Auditors and admins only (also in the database: row-level security on `audit_log` shows every record only to
them). Filters: the object (`table`, `row_id`), the actor (`account_id` or `username`), the request, the action
and a time range (`since` inclusive, `until` exclusive; a time without an offset is WIB). Paging is by keyset:
each page names the `before_id` of the next, so a page is one index scan however deep it is.

Secrets never leave: password and token digests recorded with account and token rows, and webhook secrets'
digests, are shown as "[redacted]".
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.orm import Session

from ducting.accounts.vocab import Role
from ducting.auth import require_roles
from ducting.db import Actor, SessionDep
from ducting.errors import FieldError, InvalidInput
from ducting.replica import ReadSessionDep
from ducting.schemas_base import file_responses

router = APIRouter(prefix="/api/v1", tags=["audit"])
AuditorDep = Annotated[Actor, Depends(require_roles(Role.ADMIN, Role.AUDITOR))]

REDACTED = "[redacted]"
SECRET_KEYS = frozenset({"password_hash", "token_hash", "secret", "secret_sha256"})  # webhook_endpoint: 0042
CSV_COLUMNS = [
    "id",
    "at",
    "account_id",
    "username",
    "role",
    "organisation_id",
    "request_id",
    "client_addr",
    "table",
    "row_id",
    "action",
    "old",
    "new",
]
MAX_CSV_ROWS = 100_000


@dataclass(frozen=True)
class AuditFilter:
    table: str | None = None
    row_id: str | None = None
    account_id: int | None = None
    username: str | None = None
    request_id: str | None = None
    action: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def where(self) -> tuple[str, dict[str, Any]]:
        """SQL conditions on `l` (audit_log) and `a` (account), with their parameters."""
        conds, params = [], {}
        for column, name in (
            ("l.table_name", "table"),
            ("l.row_id", "row_id"),
            ("l.account_id", "account_id"),
            ("a.username", "username"),
            ("l.request_id", "request_id"),
            ("l.action", "action"),
        ):
            value = getattr(self, name)
            if value is not None:
                conds.append(f"{column} = :{name}")
                params[name] = value
        if self.since is not None:
            conds.append("l.at >= :since")
            params["since"] = self.since
        if self.until is not None:
            conds.append("l.at < :until")
            params["until"] = self.until
        return " AND ".join(conds) or "TRUE", params


async def audit_filter(
    table: Annotated[
        str | None,
        Query(
            max_length=63,
            pattern=r"^[a-z_][a-z0-9_]*$",
            description="The object's table, e.g. allocation, invoice, route_segment",
        ),
    ] = None,
    row_id: Annotated[str | None, Query(max_length=64, description="The object's id (with `table`)")] = None,
    account_id: Annotated[int | None, Query(ge=1, le=2**63 - 1, description="Who acted: an account id")] = None,
    username: Annotated[str | None, Query(max_length=64, description="Who acted: a username")] = None,
    request_id: Annotated[str | None, Query(max_length=128)] = None,
    action: Annotated[str | None, Query(pattern="^(insert|update|delete)$")] = None,
    since: Annotated[
        datetime | None, Query(description="From this time (inclusive; WIB when no offset is given)")
    ] = None,
    until: Annotated[datetime | None, Query(description="Before this time (exclusive)")] = None,
) -> AuditFilter:
    errors = []
    if row_id is not None and table is None:
        errors.append(FieldError("row_id", "table_required"))
    if since is not None and until is not None and (since.tzinfo is None) != (until.tzinfo is None):
        errors.append(FieldError("until", "mixed_offsets"))
    elif since is not None and until is not None and until <= since:
        errors.append(FieldError("until", "end_before_start", since=since, until=until))
    if errors:
        raise InvalidInput(errors=errors)
    return AuditFilter(
        table, row_id, account_id, username.strip().lower() if username else None, request_id, action, since, until
    )


FilterDep = Annotated[AuditFilter, Depends(audit_filter)]


class AuditRecordOut(BaseModel):
    id: int
    at: datetime
    account_id: int | None
    username: str | None
    role: str | None
    organisation_id: int | None
    request_id: str | None
    client_addr: str | None
    table: str
    row_id: str | None
    action: str
    old: dict[str, Any] | None
    new: dict[str, Any] | None


class AuditPageOut(BaseModel):
    items: list[AuditRecordOut]
    next_before_id: int | None
    next: str | None


def _redact(values: dict[str, Any] | None) -> dict[str, Any] | None:
    if values is None:
        return None
    return {k: (REDACTED if k in SECRET_KEYS and v is not None else v) for k, v in values.items()}


def search_audit(
    session: Session, flt: AuditFilter, *, limit: int, before_id: int | None = None
) -> Iterator[dict[str, Any]]:
    """Audit records matching `flt`, newest first, `limit` of them (below `before_id` when given)."""
    where, params = flt.where()
    if before_id is not None:
        where += " AND l.id < :before_id"
        params["before_id"] = before_id
    rows = session.execute(
        text(f"""
        SELECT l.id, l.at, l.account_id, a.username, l.role, l.organisation_id, l.request_id, l.client_addr,
               l.table_name AS table, l.row_id, l.action, l.old, l.new
        FROM audit_log l LEFT JOIN account a ON a.id = l.account_id
        WHERE {where} ORDER BY l.id DESC LIMIT :limit"""),
        params | {"limit": limit},
        execution_options={"yield_per": 2000},
    )  # a server-side cursor: an export of 100k rows is not held at once
    for r in rows.mappings():
        yield dict(r) | {"old": _redact(r["old"]), "new": _redact(r["new"])}


@router.get("/audit", response_model=AuditPageOut, summary="Search the audit trail (auditors and admins)")
def list_audit(
    request: Request,
    session: SessionDep,
    actor: AuditorDep,
    flt: FilterDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before_id: Annotated[int | None, Query(ge=1, le=2**63 - 1, description="Keyset: records below this id")] = None,
) -> AuditPageOut:
    items = [AuditRecordOut(**r) for r in search_audit(session, flt, limit=limit + 1, before_id=before_id)]
    more = len(items) > limit
    items = items[:limit]
    next_id = items[-1].id if more else None
    link = str(request.url.include_query_params(before_id=next_id)) if next_id is not None else None
    return AuditPageOut(items=items, next_before_id=next_id, next=link)


@router.get(
    "/audit.csv",
    summary="Export the audit trail as CSV (auditors and admins)",
    response_class=StreamingResponse,
    responses=file_responses("Matching records, newest first", "text/csv"),
)
def export_audit(
    session: ReadSessionDep,
    actor: AuditorDep,
    flt: FilterDep,
    limit: Annotated[int, Query(ge=1, le=MAX_CSV_ROWS)] = 10_000,
) -> StreamingResponse:
    return StreamingResponse(
        _csv_chunks(session, flt, limit),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="jejak-audit.csv"'},
    )


def _csv_chunks(session: Session, flt: AuditFilter, limit: int) -> Iterator[str]:
    """UTF-8 with BOM so spreadsheets detect it; old/new values as JSON text."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    buf.write("\ufeff")
    writer.writerow(CSV_COLUMNS)
    for i, r in enumerate(search_audit(session, flt, limit=limit), start=1):
        writer.writerow([_cell(r[c]) for c in CSV_COLUMNS])
        if i % 2000 == 0:
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue()


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return orjson.dumps(value).decode()
    return value
