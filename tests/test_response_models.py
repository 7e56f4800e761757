"""Every route says what it answers. A JSON route names a pydantic response model (`<Thing>Out`), so OpenAPI
describes its body and schemathesis checks it (tests/trust/test_schemathesis.py); a route that sends a file, or
GeoJSON built in SQL, documents its body with `responses=` instead. These tests fail on a route that does neither."""

from __future__ import annotations

import typing

from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel
from starlette.responses import JSONResponse

from ducting.app import create_app

APP = create_app()


def _names_a_model(annotation: object) -> bool:
    """A model class, or a container of one (list[InvoiceOut]); dict[str, Any] and Any name nothing."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return True
    return any(_names_a_model(arg) for arg in typing.get_args(annotation))


def _api_routes() -> list[APIRoute]:
    routes = [ctx.original_route for ctx in iter_route_contexts(APP.routes)]
    return [r for r in routes if isinstance(r, APIRoute) and r.include_in_schema]


def _sends_json(route: APIRoute) -> bool:
    """Answers through FastAPI's JSON response (the default): its body comes from the endpoint's return value."""
    response_class = getattr(route.response_class, "value", route.response_class)  # unwrap DefaultPlaceholder
    return isinstance(response_class, type) and issubclass(response_class, JSONResponse) and route.status_code != 204


def _documents_its_body(route: APIRoute) -> bool:
    """A fast path that sends bytes it built (GeoJSON from PostGIS) names the model of its body in `responses=`."""
    answer = route.responses.get(200, {})
    return _names_a_model(answer.get("model")) or any(c.get("schema") for c in answer.get("content", {}).values())


def test_every_json_route_names_a_response_model():
    missing = [
        f"{sorted(r.methods)} {r.path} ({r.endpoint.__module__}.{r.endpoint.__name__})"
        for r in _api_routes()
        if _sends_json(r) and not _names_a_model(r.response_model) and not _documents_its_body(r)
    ]
    assert not missing, "JSON routes without a response model:\n" + "\n".join(missing)


def test_every_success_response_in_openapi_has_a_body_schema():
    """Also the file and GeoJSON routes: each documented 2xx body has a schema that is not empty."""
    bare = []
    for path, item in APP.openapi()["paths"].items():
        for method, operation in item.items():
            for status, response in operation["responses"].items():
                if not status.startswith("2") or status == "204":
                    continue
                content = response.get("content") or {"(none)": {}}
                bare += [
                    f"{method.upper()} {path} {status} {media}" for media, c in content.items() if not c.get("schema")
                ]
    assert not bare, "success responses whose body OpenAPI does not describe:\n" + "\n".join(bare)


def test_a_json_route_returning_a_bare_dict_is_caught():
    from fastapi import FastAPI

    from billing.schemas import InvoiceOut

    app = FastAPI()

    @app.get("/bare")
    def bare() -> dict[str, typing.Any]:
        return {}

    @app.get("/typed", response_model=list[InvoiceOut])
    def typed() -> list[dict[str, typing.Any]]:
        return []

    routes = {r.path: r for r in app.routes if isinstance(r, APIRoute)}
    assert _sends_json(routes["/bare"]) and not _names_a_model(routes["/bare"].response_model)
    assert not _documents_its_body(routes["/bare"])
    assert _names_a_model(routes["/typed"].response_model)
