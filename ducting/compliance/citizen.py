"""Citizen reports: the one write path without a login, so everything about it is distrustful.

* Input is validated (category from the vocabulary, description length, a location inside Batam).
* Rate-limited per client address, counted in the database so every worker process sees the same count. Only a
  keyed hash of the address is kept.
* A photo is checked by its content (Pillow identifies it; the declared type and the filename are ignored), limited
  in bytes and pixels (decompression bombs), and re-encoded to a fresh JPEG with no metadata (EXIF GPS of the
  reporter is dropped). Its filename is never used for anything.
* Each report becomes an unverified `observation` in the planners' triage queue; rules read verified
  observations only, and nothing from the public is shown publicly.
"""

from __future__ import annotations

import hashlib
import hmac
import io
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError
from sqlalchemy import text
from sqlalchemy.orm import Session

from ducting.compliance.models import CitizenReport, Observation
from ducting.compliance.settings import get_compliance_settings
from ducting.compliance.vocab import ReportCategory, ReportStatus
from ducting.errors import InvalidInput, NotFound, RateLimited, TooLarge
from ducting.settings import get_settings
from gis.crs import WGS84
from gis.geometry import load_service_area

ACCEPTED_FORMATS = {"JPEG", "PNG", "WEBP"}


class PhotoRejected(InvalidInput):
    code = "photo_type"


@dataclass(frozen=True)
class ReportReceipt:
    reference: str
    status: str


def client_key(addr: str | None) -> str:
    secret = get_settings().auth.secret_key.encode()
    return hmac.new(secret, (addr or "unknown").encode(), hashlib.sha256).hexdigest()


def clean_photo(data: bytes) -> bytes:
    """A re-encoded JPEG of the upload, or PhotoRejected / TooLarge."""
    settings = get_compliance_settings()
    if len(data) > settings.report_max_photo_bytes:
        raise TooLarge(what="photo", size_bytes=len(data), limit_bytes=settings.report_max_photo_bytes)
    Image.MAX_IMAGE_PIXELS = settings.report_max_photo_pixels
    try:
        with Image.open(io.BytesIO(data)) as probe:
            fmt = probe.format
            probe.verify()
        if fmt not in ACCEPTED_FORMATS:
            raise PhotoRejected(format=fmt)
        with Image.open(io.BytesIO(data)) as img:
            if img.width * img.height > settings.report_max_photo_pixels:
                raise PhotoRejected(
                    code="photo_too_many_pixels", pixels=img.width * img.height, limit=settings.report_max_photo_pixels
                )
            rgb = img.convert("RGB")
            rgb.thumbnail((settings.report_photo_max_side_px, settings.report_photo_max_side_px))
            out = io.BytesIO()
            rgb.save(out, format="JPEG", quality=85, optimize=True)  # no exif= : metadata is not carried over
            return out.getvalue()
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError) as exc:
        if isinstance(exc, PhotoRejected):
            raise
        raise PhotoRejected() from None


def submit_report(
    session: Session,
    *,
    lon: float,
    lat: float,
    category: str,
    description: str,
    photo: bytes | None,
    client_addr: str | None,
) -> ReportReceipt:
    """Record a report as an unverified observation. Raises RateLimited, InvalidInput. Does not commit."""
    settings = get_compliance_settings()
    key = client_key(client_addr)
    # one client at a time per key: two parallel posts cannot both slip under the limit
    session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": key})
    recent = session.scalar(
        text("""SELECT count(*) FROM citizen_report WHERE client_key = :k
        AND created_at > clock_timestamp() - make_interval(secs => :w)"""),
        {"k": key, "w": settings.report_rate_window_s},
    )
    if recent >= settings.report_rate_limit:
        raise RateLimited(
            code="report_rate_limited",
            limit=settings.report_rate_limit,
            window_minutes=settings.report_rate_window_s // 60,
            retry_after_s=settings.report_rate_window_s,
        )
    try:
        category = ReportCategory(category).value
    except ValueError:
        raise InvalidInput(
            code="value_invalid", column="category", value=category[:40], allowed=[c.value for c in ReportCategory]
        ) from None
    description = " ".join(description.split())
    if not 5 <= len(description) <= 2000:
        raise InvalidInput(code="text_length", column="description", length=len(description), min=5, max=2000)
    if 100 <= lat <= 110 and -10 <= lon <= 10:
        raise InvalidInput(code="coordinates_swapped", position=[lon, lat], suggested=[lat, lon])
    from shapely.geometry import Point

    if not load_service_area().contains(Point(lon, lat)):
        raise InvalidInput(code="outside_service_area", at=[lon, lat])
    cleaned = clean_photo(photo) if photo else None
    obs_id = session.scalar(
        text(f"""INSERT INTO observation (source, verified, notes, geom)
        VALUES ('citizen', false, :notes, ST_SetSRID(ST_MakePoint(:x, :y), {WGS84})) RETURNING id"""),
        {"notes": f"[{category}] {description}", "x": lon, "y": lat},
    )
    year = session.scalar(text("SELECT extract(year FROM CURRENT_DATE)::int"))
    serial = session.scalar(text("SELECT nextval('citizen_report_seq')"))
    reference = f"LAP-{year}-{serial:06d}"
    session.execute(
        text(f"""INSERT INTO citizen_report (reference, category, description, geom, photo,
        photo_media_type, photo_sha256, client_key, observation_id)
        VALUES (:ref, :cat, :d, ST_SetSRID(ST_MakePoint(:x, :y), {WGS84}), :photo, :mt, :sha, :k, :obs)"""),
        {
            "ref": reference,
            "cat": category,
            "d": description,
            "x": lon,
            "y": lat,
            "photo": cleaned,
            "mt": "image/jpeg" if cleaned else None,
            "sha": hashlib.sha256(cleaned).hexdigest() if cleaned else None,
            "k": key,
            "obs": obs_id,
        },
    )
    return ReportReceipt(reference=reference, status=ReportStatus.NEW.value)


def triage_queue(session: Session, *, status: str = "new", limit: int = 100) -> list[dict]:
    rows = session.execute(
        text("""
        SELECT r.id, r.reference, r.category, r.description, r.status, r.created_at, r.observation_id,
               r.photo_sha256 IS NOT NULL AS has_photo, ST_X(r.geom) AS lon, ST_Y(r.geom) AS lat,
               (SELECT s.id FROM aerial_span s ORDER BY s.geom <-> r.geom LIMIT 1) AS nearest_span_id
        FROM citizen_report r WHERE r.status = :st ORDER BY r.created_at LIMIT :l"""),
        {"st": status, "l": limit},
    ).all()
    return [dict(r._mapping) for r in rows]


def review_report(
    session: Session,
    *,
    report_id: int,
    verified: bool,
    account_id: int | None,
    span_id: int | None = None,
    note: str | None = None,
) -> CitizenReport:
    """A planner's verdict. A verified report's observation becomes evidence (tied to a span if given)."""
    report = session.get(CitizenReport, report_id, with_for_update=True)
    if report is None:
        raise NotFound(what="report", ref=report_id)
    report.status = ReportStatus.VERIFIED.value if verified else ReportStatus.REJECTED.value
    report.reviewed_by, report.review_note = account_id, note
    report.reviewed_at = session.scalar(text("SELECT clock_timestamp()"))
    obs = session.get(Observation, report.observation_id)
    if verified and obs is not None:
        obs.verified = True
        obs.span_id = span_id
        if report.category in ("fallen_cable", "tangled"):
            obs.loose_cable = report.category == "fallen_cable"
            obs.coiled_slack = report.category == "tangled"
    session.flush()
    return report


def report_photo(session: Session, *, report_id: int) -> bytes:
    photo = session.scalar(text("SELECT photo FROM citizen_report WHERE id = :id"), {"id": report_id})
    if photo is None:
        raise NotFound(what="photo", ref=report_id)
    return bytes(photo)
