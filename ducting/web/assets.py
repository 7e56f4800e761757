"""Static files: the app's own CSS/JS, and the front-end libraries' `dist` folders from node_modules (installed
from the npm registry by `npm ci`, pinned in package-lock.json). Only those folders are exposed, never the whole
node_modules tree, and nothing is loaded from a CDN."""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import FastAPI
from starlette.staticfiles import StaticFiles

from ducting.settings import PROJECT_ROOT

log = logging.getLogger("ducting.web")
HERE = Path(__file__).resolve().parent
NODE_MODULES = PROJECT_ROOT / "node_modules"
VENDOR = {
    "leaflet": "leaflet/dist",
    "geoman": "@geoman-io/leaflet-geoman-free/dist",
    "vectorgrid": "leaflet.vectorgrid/dist",
    "chartjs": "chart.js/dist",
}


def mount_static(app: FastAPI) -> None:
    app.mount("/static/app", StaticFiles(directory=HERE / "static"), name="static-app")
    for name, folder in VENDOR.items():
        path = NODE_MODULES / folder
        if path.is_dir():
            app.mount(f"/static/vendor/{name}", StaticFiles(directory=path), name=f"vendor-{name}")
        else:
            log.warning("front-end library %s is missing (%s): run `npm ci` (./dev setup does)", name, path)
