"""Domain errors and their one rendering: RFC 9457 `application/problem+json`, in the reader's language.

Each error class names a family (its HTTP `status`) and a default machine `code`; the words, and the status each
code really has, come from the registry (`ducting.problems`, which documents the contract). A new error is
registered there with its templates, then raised with its facts:

    raise NotFound(what="segment", ref=segment_id)
    raise Conflict(code="duct_position_taken", segment=seg_code, position=position)
    FieldError("geometry", "segment_not_snapped", end="start", node="MH-1", distance_m=35.01, tolerance_m=2.0)

A schema's own validator does the same through pydantic: `raise PydanticCustomError(code, "hint", {facts})`. The
facts fill the template in the reader's language and travel as members of the problem (and as a field error's
`detail`). A positional English sentence (`raise NotFound("segment 5 does not exist")`) still works: it is
shown where no template variant fits, and the source scan in the tests names it for conversion.

Services raise these; one handler renders them. Only the database errors we expect are translated (see
`translate_integrity`); anything else is a logged 500. One of them is the database's own refusal to remove network
under a lease (`lease_blocks_removal`, migration 0035): it becomes the same 409 `delete_blocked`, with its list of
blockers, that the delete hooks give (`removal_blocked`). Two data errors are expected anywhere input reaches SQL, and
become 422 here rather than in every route: an integer beyond the 64-bit range of the columns
(`value_out_of_range`) and a NUL character in text, which PostgreSQL cannot store (`nul_character`). Schemathesis
found both in a dozen routes (tests/trust).
"""

from __future__ import annotations

import logging
import typing
from collections.abc import Mapping
from typing import Any

import orjson
import psycopg.errors
import pydantic_core.core_schema
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DataError, IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from ducting import formats, problems

log = logging.getLogger("ducting")
PROBLEM = "application/problem+json"
_PYDANTIC_TYPES = frozenset(typing.get_args(pydantic_core.core_schema.ErrorType))


class UnrenderableProblem(RuntimeError):
    """In the test environment: a problem that breaks the registry's contract (see `problems.audit`)."""


class FieldError:
    """One fault of one input field or file row: a path, a registered code and the facts the message states."""

    __slots__ = ("code", "detail", "note", "path")

    def __init__(
        self, path: str, code: str, message: str | None = None, *, detail: Mapping[str, Any] | None = None, **facts: Any
    ) -> None:
        self.path, self.code, self.note = path, code, message
        self.detail: dict[str, Any] = {**(detail or {}), **facts}

    def text(self, lang: str) -> str:
        return problems.say(self.code, lang, self.detail, fallback=self.note)

    @property
    def message(self) -> str:
        """In English: for logs, the CLI and tests. People get `text(lang)`."""
        return self.text("en")

    def as_dict(self, lang: str = problems.DEFAULT_LANGUAGE) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.path, "code": self.code, "message": self.text(lang)}
        if self.detail:
            out["detail"] = _json_safe(self.detail)
        return out

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FieldError) and (self.path, self.code, self.detail) == (
            other.path,
            other.code,
            other.detail,
        )

    def __repr__(self) -> str:
        return f"FieldError({self.path!r}, {self.code!r}, {self.detail!r})"


class DomainError(Exception):
    status: int = 400
    code: str = "bad_request"

    def __init__(
        self,
        detail: str | None = None,
        *,
        code: str | None = None,
        errors: list[FieldError] | None = None,
        **facts: Any,
    ) -> None:
        if code is not None:
            self.code = code
        self.note = detail
        self.errors = errors or []
        self.facts: dict[str, Any] = facts
        if self.errors:
            self.facts.setdefault("count", len(self.errors))
        super().__init__(self.code)

    @property
    def extra(self) -> dict[str, Any]:
        """The facts (the members a problem carries beyond the standard ones)."""
        return self.facts

    def say(self, lang: str) -> str:
        """The detail in `lang`. A problem that lists one field error and states no facts of its own says that one."""
        if self.note is None and len(self.errors) == 1 and set(self.facts) <= {"count"}:
            return self.errors[0].text(lang)
        return problems.say(self.code, lang, self.facts, fallback=self.note)

    @property
    def detail(self) -> str:
        """In English: for logs, the CLI and tests. People get `say(lang)` or the problem."""
        return self.say("en")

    @property
    def title(self) -> str:
        return problems.title(self.code, "en")

    def __str__(self) -> str:
        return f"{self.code}: {self.detail}"

    def http_status(self) -> int:
        found = problems.entry(self.code)
        return found.status if found else self.status

    def problem(self, lang: str = problems.DEFAULT_LANGUAGE) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": f"https://bedelau.batam.go.id/problems/{self.code}",
            "title": problems.title(self.code, lang),
            "status": self.http_status(),
            "detail": self.say(lang),
            "code": self.code,
        }
        if self.errors:
            body["errors"] = [e.as_dict(lang) for e in self.errors]
        body.update((k, _json_safe(v)) for k, v in self.facts.items() if k not in problems.RESERVED)
        return body


def _json_safe(value: Any) -> Any:
    """A fact as JSON can carry it: an integer past 64 bits (an id someone typed) as text."""
    if isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value < 2**64:
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    return value


class InvalidInput(DomainError):
    status, code = 422, "invalid_input"


class NotFound(DomainError):
    status, code = 404, "not_found"


class Unauthenticated(DomainError):
    status, code = 401, "unauthenticated"


class Forbidden(DomainError):
    status, code = 403, "forbidden"


class Conflict(DomainError):
    status, code = 409, "conflict"


class PreconditionFailed(DomainError):
    status, code = 412, "stale_edit"


class PreconditionRequired(DomainError):
    status, code = 428, "precondition_required"


class TooLarge(DomainError):
    status, code = 413, "too_large"


class RateLimited(DomainError):
    status, code = 429, "rate_limited"


class ServiceUnavailable(DomainError):
    status, code = 503, "database_unavailable"


def language(headers: Mapping[str, str], cookies: Mapping[str, str]) -> str:
    """The reader's language for a request (see `problems.negotiate`)."""
    return problems.negotiate(cookies.get(formats.LANG_COOKIE), headers.get("accept-language"))


def language_of(cookie_header: str, accept_language: str) -> str:
    """The reader's language from raw headers (for the ASGI fast paths, which have no Request)."""
    cookies = dict(part.strip().partition("=")[::2] for part in cookie_header.split(";") if "=" in part)
    return problems.negotiate(cookies.get(formats.LANG_COOKIE), accept_language)


def read_faults(exc: Any, path: str = "rows/{row}", **context: Any) -> list[FieldError]:
    """The bad rows of a `gis.io.ReadError` as field errors: its code and facts, the row in `detail` and the path."""
    return [FieldError(path.format(row=r), c, row=r, **context, **facts) for r, c, facts in exc.errors]


def validation_facts(err: Mapping[str, Any]) -> dict[str, Any]:
    """The facts of one pydantic error (its `ctx`: limits, expected values), as far as JSON can carry them."""
    return {k: v for k, v in (err.get("ctx") or {}).items() if isinstance(v, (str, int, float, list, bool))}


def _strict() -> bool:
    from ducting.settings import Environment, get_settings

    return get_settings().env == Environment.TEST


def _check(exc: DomainError) -> None:
    fields = [
        (e.code, e.detail, e.note is not None)
        for e in exc.errors
        if problems.entry(e.code) is not None or e.code not in _PYDANTIC_TYPES  # pydantic's own types may pass
    ]
    issues = problems.audit(exc.code, type(exc).status, exc.facts, legacy=exc.note is not None, fields=fields)
    if not issues:
        return
    if _strict():
        raise UnrenderableProblem("; ".join(issues))
    log.error("problem rendered against the registry's contract: %s", "; ".join(issues))


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
        detail = orjson.loads(diag.message_detail or "{}")
    except orjson.JSONDecodeError:
        detail = {}
    blockers = detail.get("blockers") or []
    what = {"route_segment": "segment"}.get(diag.table_name or "", diag.table_name or "segment")
    return Conflict(code="delete_blocked", what=what, ref=detail.get("ref"), count=len(blockers), blockers=blockers)


def problem_response(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body, default=str), status_code=status, media_type=PROBLEM, headers=headers)


def render(exc: DomainError, lang: str, headers: dict[str, str] | None = None) -> Response:
    """The problem+json response for a domain error, in `lang`: checked against the registry (strictly in tests)."""
    _check(exc)
    status = exc.http_status()
    out = {"Content-Language": lang, **(headers or {})}
    if status == 401:
        out["WWW-Authenticate"] = "Bearer"
    return problem_response(status, exc.problem(lang), out)


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> Response:
        return render(exc, language(request.headers, request.cookies))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        errors = [
            FieldError(
                "/".join(str(p) for p in err.get("loc", ())),
                err.get("type", "invalid"),
                err.get("msg", "invalid"),
                detail=validation_facts(err),
            )
            for err in exc.errors()
        ]
        error = InvalidInput(count=len(errors), errors=errors)
        lang = language(request.headers, request.cookies)
        _check(error)
        return problem_response(422, error.problem(lang), {"Content-Language": lang})

    @app.exception_handler(DataError)
    async def _data(request: Request, exc: DataError) -> Response:
        if isinstance(exc.orig, psycopg.errors.NumericValueOutOfRange):
            error = InvalidInput(code="value_out_of_range")
        elif isinstance(exc.orig, psycopg.DataError) and "NUL (0x00)" in str(exc.orig):
            error = InvalidInput(code="nul_character")
        else:
            raise exc  # not an input fault we know: a logged 500, for a test to find
        log.info("refused %s %s: %s", request.method, request.url.path, str(exc.orig).splitlines()[0])
        return render(error, language(request.headers, request.cookies))

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
        lang = language(request.headers, request.cookies)
        body = {
            "type": f"https://bedelau.batam.go.id/problems/{code}",
            "title": problems.title(code, lang),
            "status": exc.status_code,
            "detail": problems.say(code, lang, {}) if code != "http_error" else str(exc.detail),
            "code": code,
        }
        headers = {"Content-Language": lang, **(getattr(exc, "headers", None) or {})}
        return problem_response(exc.status_code, body, headers)
