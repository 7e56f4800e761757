"""Loading the Batam sample: organisations, demo accounts (development only) and the network GeoPackage."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from ducting.accounts.models import Account, Organisation
from ducting.accounts.vocab import OrganisationKind, OrganisationStatus, Role
from ducting.auth import hash_password
from ducting.network.importer import ImportReport, Progress, _noop, import_layers
from ducting.settings import PROJECT_ROOT, Environment, get_settings
from gis.io import read_layers

SAMPLE_DIR = PROJECT_ROOT / "sample_data"
NETWORK_FILE = SAMPLE_DIR / "batam_network.gpkg"
OPERATORS_FILE = SAMPLE_DIR / "operators.json"

# For local use only; the README lists them. `load_demo_accounts` refuses to run in production.
DEMO_ACCOUNTS: list[tuple[str, str, Role, str | None, str]] = [
    ("admin", "Admin BEDELAU", Role.ADMIN, "BUMD", "admin-bedelau-2026"),
    ("perencana", "Rina Perencana", Role.PLANNER, "BUMD", "perencana-2026"),
    ("perencana2", "Budi Perencana", Role.PLANNER, "BUMD", "perencana-2026"),
    ("keuangan", "Sari Keuangan", Role.FINANCE, "BUMD", "keuangan-2026"),
    ("auditor", "Inspektorat Kota Batam", Role.AUDITOR, None, "auditor-2026"),
]
DEMO_OPERATOR_PASSWORD = "operator-2026"
DEMO_OPERATOR_ACCOUNTS = 3


def npwp_digits(value: str | None) -> str | None:
    return re.sub(r"\D", "", value) if value else None


def load_organisations(session: Session, path: Path = OPERATORS_FILE) -> int:
    """Insert the sample organisations that are not there yet (matched by code). Returns how many were added."""
    rows: list[dict[str, Any]] = json.loads(path.read_text())
    known = set(session.scalars(select(Organisation.code)))
    added = 0
    for row in rows:
        if row["code"] in known:
            continue
        session.add(
            Organisation(
                code=row["code"],
                name=row["name"],
                kind=OrganisationKind(row.get("kind", "operator")),
                npwp=npwp_digits(row.get("npwp")),
                address=row.get("address"),
                contact_name=row.get("contact_name"),
                contact_email=row.get("contact_email"),
                contact_phone=row.get("contact_phone"),
                status=OrganisationStatus(row.get("status", "active")),
            )
        )
        added += 1
    session.flush()
    return added


def demo_operator_usernames(session: Session) -> list[tuple[str, str]]:
    """(username, organisation code) of the demo operator accounts: the first active operators by code."""
    orgs = session.scalars(
        select(Organisation)
        .where(Organisation.kind == OrganisationKind.OPERATOR, Organisation.status == OrganisationStatus.ACTIVE)
        .order_by(Organisation.code)
        .limit(DEMO_OPERATOR_ACCOUNTS)
    )
    return [(f"op-{o.code.lower()}", o.code) for o in orgs]


def load_demo_accounts(session: Session) -> list[str]:
    if get_settings().env == Environment.PRODUCTION:
        raise RuntimeError("demo accounts have published passwords and are never created in production")
    org_ids = dict(session.execute(select(Organisation.code, Organisation.id)).all())
    existing = set(session.scalars(select(Account.username)))
    wanted = [(u, n, r, o, p) for u, n, r, o, p in DEMO_ACCOUNTS]
    wanted += [
        (u, f"Operator {code}", Role.OPERATOR, code, DEMO_OPERATOR_PASSWORD)
        for u, code in demo_operator_usernames(session)
    ]
    created = []
    for username, name, role, org, password in wanted:
        if username in existing:
            continue
        session.add(
            Account(
                username=username,
                full_name=name,
                role=role,
                password_hash=hash_password(password),
                organisation_id=org_ids.get(org) if org else None,
            )
        )
        created.append(username)
    session.flush()
    return created


def network_is_empty(session: Session) -> bool:
    return session.execute(text("SELECT NOT EXISTS (SELECT 1 FROM node)")).scalar_one()


def load_network(session: Session, path: Path = NETWORK_FILE, *, progress: Progress = _noop) -> ImportReport:
    layers = read_layers(path.read_bytes(), path.name)
    return import_layers(session, layers, dry_run=False, progress=progress)
