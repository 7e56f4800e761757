"""Open Fibre Data Standard 0.4 in its GeoJSON publication format: one FeatureCollection of nodes, one of spans.

Each feature's properties carry the node or span object minus its geometry, with references expanded (span
`start`/`end` become the node objects, organisation references the organisation objects), plus `featureType` and
an embedded `network` object holding the network's own fields. `validate_ofds` folds the two collections back
into one network object and validates it against the bundled 0.4 network schema.

0.4 differs from the 0.3 examples in ways that matter here: `physicalInfrastructureProvider` is gone (the owner
of a manhole or duct is `supportingInfrastructure.owner`), `supportingInfrastructure` is an object whose `type`
comes from the node/span supporting-infrastructure codelists, and `deployment` is `belowGround`, not
"underground".
"""

from __future__ import annotations

import copy
import json
from collections import Counter
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

import geopandas as gpd
import jsonschema
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

SCHEMA_PATH = Path(__file__).parent / "data" / "ofds" / "network-schema.json"

# Our node kinds against the 0.4 nodeSupportingInfrastructure codelist, and the nodeType codes that fit.
SUPPORTING_INFRASTRUCTURE = {
    "manhole": "cableWell",
    "handhole": "cableWell",
    "cabinet": "cabinet",
    "pole": "pole",
    "building_entry": "building",
}
NODE_TYPE = {"cabinet": ["cabinet"]}  # no nodeType code describes a chamber, a pole or a building entry
CRS84 = {"name": "urn:ogc:def:crs:OGC::CRS84", "uri": "http://www.opengis.net/def/crs/OGC/1.3/CRS84"}
_FEATURE_ONLY = ("network", "featureType")


class OfdsExportError(ValueError):
    """Input the OFDS export cannot represent; `code` is machine-readable."""

    def __init__(self, code: str, message: str) -> None:
        self.code, self.message = code, message
        super().__init__(f"{code}: {message}")


@lru_cache(maxsize=1)
def network_schema() -> dict[str, Any]:
    """The bundled OFDS 0.4 network schema."""
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def to_ofds_geojson(
    nodes: gpd.GeoDataFrame,
    segments: gpd.GeoDataFrame,
    *,
    network_id: str,
    network_name: str,
    publisher: str,
    publication_date: str,
    organisations: dict[str, dict[str, Any]],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(nodes FeatureCollection, spans FeatureCollection) for one network. Geometries must be EPSG:4326.

    `organisations` maps an owner name (the `owner` column) to its OFDS Organisation object, which needs an
    `id`; `name` defaults to the key. A segment's owner is its `owner` column when present.
    """
    orgs = _organisations(organisations)
    network = _network(network_id, network_name, publisher, publication_date)
    node_objects = {str(row["uuid"]): _node(row, orgs) for row in _rows(nodes)}
    node_features = [_feature(obj, "location", "node", network, orgs) for obj in node_objects.values()]
    span_features = []
    for row in _rows(segments):
        span = _span(row, orgs)
        for end in ("start", "end"):
            if span[end] not in node_objects:
                raise OfdsExportError(
                    "span_node_unknown",
                    f"segment {span.get('name', span['id'])} {end}s at node "
                    f"{span[end]}, which is not among the exported nodes",
                )
        feature = _feature(span, "route", "span", network, orgs)
        for end in ("start", "end"):
            feature["properties"][end] = _dereference(node_objects[span[end]], orgs)
        span_features.append(feature)
    return _collection(node_features), _collection(span_features)


def validate_ofds(nodes_fc: dict[str, Any], spans_fc: dict[str, Any]) -> list[str]:
    """Schema errors as "path: message" strings; [] when the two collections form a valid OFDS 0.4 network."""
    try:
        network = features_to_network(nodes_fc, spans_fc)
    except (TypeError, KeyError, AttributeError, ValueError) as exc:
        return [f"(publication format): {exc}"]
    validator_class = jsonschema.validators.validator_for(network_schema())
    validator = validator_class(network_schema(), format_checker=validator_class.FORMAT_CHECKER)
    errors = sorted(validator.iter_errors(network), key=lambda e: list(map(str, e.absolute_path)))
    messages = [f"{'/'.join(map(str, e.absolute_path)) or '(network)'}: {e.message}" for e in errors]
    return messages + _reference_errors(network)


def features_to_network(nodes_fc: dict[str, Any], spans_fc: dict[str, Any]) -> dict[str, Any]:
    """The inverse of the GeoJSON transformation: one network object with nodes, spans and organisations."""
    for name, fc in (("nodes", nodes_fc), ("spans", spans_fc)):
        if (
            not isinstance(fc, dict)
            or fc.get("type") != "FeatureCollection"
            or not isinstance(fc.get("features"), list)
        ):
            raise ValueError(f"the {name} collection is not a GeoJSON FeatureCollection")
    features = [*nodes_fc["features"], *spans_fc["features"]]
    network = copy.deepcopy(features[0]["properties"]["network"]) if features else {}
    ids = {str(f["properties"]["network"].get("id")) for f in features}
    if len(ids) > 1:
        raise ValueError(f"features belong to {len(ids)} networks; validate one network at a time")
    organisations: dict[str, dict[str, Any]] = {}
    network["nodes"] = [_unfeature(f, "location", organisations) for f in nodes_fc["features"]]
    network["spans"] = [_unfeature(f, "route", organisations) for f in spans_fc["features"]]
    for span in network["spans"]:
        for end in ("start", "end"):
            if isinstance(span.get(end), dict):
                span[end] = span[end].get("id")
    if organisations:
        network["organisations"] = list(organisations.values())
    return network


# --- building -------------------------------------------------------------------------------------------------


def _rows(frame: gpd.GeoDataFrame) -> Iterable[dict[str, Any]]:
    geometry_name = frame.geometry.name
    for record in frame.to_dict("records"):
        record["_geometry"] = record.pop(geometry_name)
        yield {k: (None if _missing(v) else v) for k, v in record.items()}


def _missing(value: Any) -> bool:
    return value is None or (not isinstance(value, (list, dict, BaseGeometry)) and bool(pd.isna(value)))


def _organisations(given: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    orgs = {}
    for name, org in given.items():
        if not org.get("id"):
            raise OfdsExportError("organisation_id_missing", f"organisation {name!r} has no id")
        orgs[name] = {"name": name, **org, "id": str(org["id"])}
    return orgs


def _reference(owner: str | None, orgs: dict[str, dict[str, Any]]) -> dict[str, str] | None:
    if owner is None:
        return None
    if owner not in orgs:
        raise OfdsExportError("organisation_unknown", f"owner {owner!r} is not among the organisations given")
    return {"id": orgs[owner]["id"], "name": orgs[owner]["name"]}


def _network(network_id: str, name: str, publisher: str, publication_date: str) -> dict[str, Any]:
    return {
        "id": str(network_id),
        "name": name,
        "publisher": {"name": publisher},
        "publicationDate": publication_date,
        "crs": dict(CRS84),
        "links": [{"rel": "describedby", "href": network_schema()["$id"]}],
    }


def _node(row: dict[str, Any], orgs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    kind = row.get("kind")
    node: dict[str, Any] = {"id": str(row["uuid"])}
    if row.get("code"):
        node["name"] = str(row["code"])
    if row.get("status"):
        node["status"] = str(row["status"])
    if row["_geometry"] is not None:
        node["location"] = _geojson(row["_geometry"])
    if kind in NODE_TYPE:
        node["type"] = list(NODE_TYPE[kind])
    support: dict[str, Any] = {}
    if kind in SUPPORTING_INFRASTRUCTURE:
        support["type"] = SUPPORTING_INFRASTRUCTURE[kind]
    if owner := _reference(row.get("owner"), orgs):
        support["owner"] = owner
    if support:
        node["supportingInfrastructure"] = support
    return node


def _span(row: dict[str, Any], orgs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    span: dict[str, Any] = {"id": str(row["uuid"])}
    if row.get("code"):
        span["name"] = str(row["code"])
    if row.get("status"):
        span["status"] = str(row["status"])
    span["start"], span["end"] = str(row["start_uuid"]), str(row["end_uuid"])
    span["directed"] = False  # a duct carries cables either way
    if row["_geometry"] is not None:
        span["route"] = _geojson(row["_geometry"])
    span["deployment"] = ["belowGround"]
    support: dict[str, Any] = {"type": "duct"}
    if description := _duct_description(row.get("ducts")):
        support["description"] = description
    if owner := _reference(row.get("owner"), orgs):
        support["owner"] = owner
    span["supportingInfrastructure"] = support
    return span


def _geojson(geom: BaseGeometry) -> dict[str, Any]:
    """GeoJSON geometry with lists, not tuples, so the dict is the JSON it will be (2D: OFDS positions are x, y)."""
    return {
        "type": geom.geom_type,
        "coordinates": shapely.get_coordinates(geom).tolist()[0]
        if geom.geom_type == "Point"
        else shapely.get_coordinates(geom).tolist(),
    }


def _duct_description(ducts: Any) -> str | None:
    """A plain sentence about the ducts (0.4 has no structured duct fields)."""
    if ducts is None:
        return None
    try:
        parsed = json.loads(ducts) if isinstance(ducts, (str, bytes)) else ducts
    except ValueError:
        return None
    if not isinstance(parsed, list) or not parsed:
        return None
    labels = []
    for duct in parsed:
        label = None
        if isinstance(duct, dict):
            label = next((str(duct[k]) for k in ("spec", "spec_code", "name", "code", "kind") if duct.get(k)), None)
        labels.append(label or "duct")
    counted = {label: labels.count(label) for label in labels}
    noun = "duct" if len(labels) == 1 else "ducts"
    return f"{len(labels)} {noun}: " + ", ".join(f"{n} × {label}" for label, n in counted.items())


def _feature(
    obj: dict[str, Any], geometry_key: str, feature_type: str, network: dict[str, Any], orgs: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    properties = _dereference({k: v for k, v in obj.items() if k != geometry_key}, orgs)
    properties["featureType"] = feature_type
    properties["network"] = copy.deepcopy(network)
    return {"type": "Feature", "geometry": obj.get(geometry_key), "properties": properties}


def _dereference(obj: dict[str, Any], orgs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Expand organisation references to the full organisation objects, as the GeoJSON format asks."""
    by_id = {o["id"]: o for o in orgs.values()}
    out = copy.deepcopy(obj)
    owner = out.get("supportingInfrastructure", {}).get("owner")
    if owner and owner["id"] in by_id:
        out["supportingInfrastructure"]["owner"] = copy.deepcopy(by_id[owner["id"]])
    return out


def _collection(features: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": features}


# --- folding back ---------------------------------------------------------------------------------------------


def _unfeature(feature: dict[str, Any], geometry_key: str, organisations: dict[str, dict[str, Any]]) -> dict[str, Any]:
    obj = {k: copy.deepcopy(v) for k, v in feature["properties"].items() if k not in _FEATURE_ONLY}
    if feature.get("geometry") is not None:
        obj[geometry_key] = feature["geometry"]
    support = obj.get("supportingInfrastructure")
    if isinstance(support, dict) and "owner" in support:
        support["owner"] = _fold_organisation(support["owner"], organisations)
    for key in ("transmissionMediumOwner", "supplier"):
        if key in obj:
            obj[key] = _fold_organisation(obj[key], organisations)
    if isinstance(obj.get("networkProviders"), list):
        obj["networkProviders"] = [_fold_organisation(o, organisations) for o in obj["networkProviders"]]
    return obj


def _fold_organisation(org: Any, organisations: dict[str, dict[str, Any]]) -> Any:
    """An expanded organisation back to a reference, remembering the full object for `organisations`."""
    if not isinstance(org, dict) or "id" not in org:
        return org  # left as found, for the schema to name
    organisations.setdefault(str(org["id"]), org)
    return {k: org[k] for k in ("id", "name") if k in org}


def _reference_errors(network: dict[str, Any]) -> list[str]:
    """What the schema cannot say: spans must end at nodes of the network, ids must be unique."""
    errors = []
    node_ids = [n.get("id") for n in network.get("nodes", []) if isinstance(n, dict)]
    span_ids = [s.get("id") for s in network.get("spans", []) if isinstance(s, dict)]
    for kind, ids in (("nodes", node_ids), ("spans", span_ids)):
        duplicates = sorted(str(i) for i, n in Counter(ids).items() if n > 1)
        if duplicates:
            errors.append(f"{kind}: duplicate ids {', '.join(duplicates[:5])}")
    known = set(node_ids)
    for i, span in enumerate(network.get("spans", [])):
        for end in ("start", "end"):
            if isinstance(span, dict) and span.get(end) is not None and span[end] not in known:
                errors.append(f"spans/{i}/{end}: node {span[end]!r} is not in the nodes collection")
    return errors
