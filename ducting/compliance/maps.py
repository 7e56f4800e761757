"""A folium map of flags: clustered, coloured by severity, with the evidence in each popup. Saved standalone."""

from __future__ import annotations

import html
from typing import Any

import folium
from folium.plugins import MarkerCluster

from ducting.compliance.rules import BY_CODE
from ducting.compliance.vocab import Severity

COLOUR = {Severity.CRITICAL: "darkred", Severity.HIGH: "orange", Severity.MEDIUM: "beige", Severity.LOW: "blue"}
HEX = {Severity.CRITICAL: "#b2182b", Severity.HIGH: "#ef8a62", Severity.MEDIUM: "#e6c229", Severity.LOW: "#2166ac"}
BATAM_CENTRE = (1.12, 104.03)


def _popup(flag: dict[str, Any]) -> str:
    rule = BY_CODE[flag["rule"]]
    measured = (
        ""
        if flag.get("measured") is None
        else (f"<br>measured {flag['measured']:g} {flag.get('unit') or ''} vs threshold {flag.get('threshold') or 0:g}")
    )
    evidence = html.escape(
        ", ".join(f"{k}: {v}" for k, v in (flag.get("evidence") or {}).items() if v is not None)[:400]
    )
    return (
        f"<b>{html.escape(rule.title_id)}</b><br><i>{html.escape(rule.title_en)}</i><br>"
        f"flag #{flag['id']} · {flag['severity']} · {flag['status']}{measured}"
        f"<br>{flag['subject_kind']} #{flag['subject_id']} · observation {flag.get('observation_id') or '-'}"
        f"<br><small>{evidence}</small>"
    )


def _anchor(geometry: dict[str, Any]) -> tuple[float, float]:
    c = geometry["coordinates"]
    if geometry["type"] == "Point":
        return c[1], c[0]
    mid = c[len(c) // 2] if len(c) > 2 else [(c[0][0] + c[-1][0]) / 2, (c[0][1] + c[-1][1]) / 2]
    return mid[1], mid[0]


def flag_map_html(flags: list[dict[str, Any]]) -> str:
    """A standalone HTML page (folium loads Leaflet from its CDN when opened)."""
    centre = _anchor(flags[0]["geometry"]) if flags else BATAM_CENTRE
    fmap = folium.Map(location=centre, zoom_start=15 if flags else 12, tiles="OpenStreetMap", control_scale=True)
    clusters = {
        sev: MarkerCluster(name=f"{sev.value} ({sum(1 for f in flags if f['severity'] == sev.value)})").add_to(fmap)
        for sev in Severity
    }
    for flag in flags:
        sev = Severity(flag["severity"])
        geometry = flag["geometry"]
        popup = folium.Popup(_popup(flag), max_width=360)
        folium.Marker(
            _anchor(geometry),
            popup=popup,
            tooltip=f"{flag['rule']} #{flag['id']}",
            icon=folium.Icon(color=COLOUR[sev], icon="info-sign"),
        ).add_to(clusters[sev])
        if geometry["type"] == "LineString":
            folium.PolyLine([(y, x) for x, y in geometry["coordinates"]], color=HEX[sev], weight=4, opacity=0.8).add_to(
                fmap
            )
    folium.LayerControl(collapsed=False).add_to(fmap)
    return fmap.get_root().render()
