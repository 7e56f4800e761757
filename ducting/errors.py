"""Domain errors and their one rendering: RFC 9457 `application/problem+json`.

Each error class carries its HTTP status and a machine `code`. Services raise them; one handler renders them.
Only the database errors we expect are translated; anything else is a logged 500. One of them is the database's own
refusal to remove network under a lease (`lease_blocks_removal`, migration 0035): it becomes the same 409
`delete_blocked`, with its list of blockers, that the delete hooks give (`removal_blocked`).
Two data errors are expected anywhere input reaches SQL, and become 422 here rather than in every route: an
integer beyond the 64-bit range of the columns (`value_out_of_range`) and a NUL character in text, which
PostgreSQL cannot store (`nul_character`). Schemathesis found both in a dozen routes (tests/trust).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import orjson
import psycopg.errors
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DataError, IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

log = logging.getLogger("ducting")
PROBLEM = "application/problem+json"


@dataclass
class FieldError:
    path: str
    code: str
    message: str
    detail: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.path, "code": self.code, "message": self.message}
        if self.detail:
            out["detail"] = self.detail
        return out


class DomainError(Exception):
    status: int = 400
    code: str = "bad_request"
    title: str = "Bad request"

    def __init__(self, detail: str, *, errors: list[FieldError] | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []
        self.extra = extra

    def problem(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": f"https://bedelau.batam.go.id/problems/{self.code}",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "code": self.code,
        }
        if self.errors:
            body["errors"] = [e.as_dict() for e in self.errors]
        body.update(self.extra)
        return body


class InvalidInput(DomainError):
    status, code, title = 422, "invalid_input", "Input is not valid"


class NotFound(DomainError):
    status, code, title = 404, "not_found", "Not found"


class Unauthenticated(DomainError):
    status, code, title = 401, "unauthenticated", "Authentication required"


class Forbidden(DomainError):
    status, code, title = 403, "forbidden", "Not allowed for this account"


class Conflict(DomainError):
    status, code, title = 409, "conflict", "Conflicts with the current state"


class PreconditionFailed(DomainError):
    status, code, title = 412, "stale_edit", "The object changed since you read it"


class PreconditionRequired(DomainError):
    status, code, title = 428, "precondition_required", "If-Match is required"


class TooLarge(DomainError):
    status, code, title = 413, "too_large", "Request too large"


class RateLimited(DomainError):
    status, code, title = 429, "rate_limited", "Too many requests"


class ServiceUnavailable(DomainError):
    status, code, title = 503, "database_unavailable", "The database is not reachable; try again shortly"


LEASE_BLOCKS_REMOVAL = "lease_blocks_removal"  # the constraint name the removal trigger raises (migration 0035)


def removal_blocked(exc: IntegrityError) -> Conflict | None:
    """The 409 `delete_blocked` for the database's refusal to remove a segment, duct or subduct under a lease;
    None for any other integrity error."""
    diag = getattr(exc.orig, "diag", None)
    if not isinstance(exc.orig, psycopg.errors.RestrictViolation) or diag is None:
        return None
    if diag.constraint_name != LEASE_BLOCKS_REMOVAL:
        return None
    try:
        blockers = orjson.loads(diag.message_detail or "[]")
    except orjson.JSONDecodeError:
        blockers = []
    return Conflict(str(diag.message_primary), code="delete_blocked", blockers=blockers)


def problem_response(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type=PROBLEM, headers=headers)


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> Response:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return problem_response(exc.status, exc.problem(), headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        errors = [
            FieldError(
                path="/".join(str(p) for p in err.get("loc", ())),
                code=err.get("type", "invalid"),
                message=err.get("msg", "invalid"),
            ).as_dict()
            for err in exc.errors()
        ]
        body = InvalidInput(f"{len(errors)} field(s) are not valid").problem() | {"errors": errors}
        return problem_response(422, body)

    @app.exception_handler(DataError)
    async def _data(request: Request, exc: DataError) -> Response:
        if isinstance(exc.orig, psycopg.errors.NumericValueOutOfRange):
            error = InvalidInput(
                "a number in the request is outside the range the database stores (ids and counts are 64-bit integers)",
                code="value_out_of_range",
            )
        elif isinstance(exc.orig, psycopg.DataError) and "NUL (0x00)" in str(exc.orig):
            error = InvalidInput(
                "text in the request contains a NUL character (\\u0000), which cannot be stored", code="nul_character"
            )
        else:
            raise exc  # not an input fault we know: a logged 500, for a test to find
        log.info("refused %s %s: %s", request.method, request.url.path, str(exc.orig).splitlines()[0])
        return problem_response(422, error.problem())

    @app.exception_handler(IntegrityError)
    async def _integrity(request: Request, exc: IntegrityError) -> Response:
        error = removal_blocked(exc)
        if error is None:
            raise exc  # not one we expect here: a logged 500
        log.info("refused %s %s: %s", request.method, request.url.path, error.detail)
        return problem_response(error.status, error.problem())

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        code = {404: "not_found", 405: "method_not_allowed", 401: "unauthenticated"}.get(exc.status_code, "http_error")
        body = {
            "type": f"https://bedelau.batam.go.id/problems/{code}",
            "title": str(exc.detail),
            "status": exc.status_code,
            "detail": str(exc.detail),
            "code": code,
        }
        return problem_response(exc.status_code, body, getattr(exc, "headers", None))
