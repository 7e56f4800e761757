"""Issuing the compliance letter to an operator: `POST /api/v1/compliance/letters/{operator_id}/issue`.

The letter itself is rendered on demand (`letters.render_letter`, `GET .../letters/{operator_id}.pdf`); issuing is
the BUMD's act of sending it, and what tells the operator (the `compliance.letter_issued` event, with the
letter's link and its deadline of 30 days). Issuing again on the same day is the same letter: nothing new is sent.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Response
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.orm import Session

from ducting import calendar
from ducting.accounts.vocab import Role
from ducting.auth import require_roles
from ducting.db import Actor, SessionDep
from ducting.errors import NotFound
from ducting.notify import links
from ducting.notify.events import emit
from ducting.notify.vocab import EventType

DEADLINE_DAYS = 30  # the letter's own words: "dalam 30 hari sejak tanggal surat ini"
router = APIRouter(prefix="/api/v1/compliance", tags=["compliance"])
ManagerDep = Annotated[Actor, Depends(require_roles(Role.ADMIN, Role.PLANNER))]


class LetterIssuedOut(BaseModel):
    operator_id: int
    issued_on: date
    deadline: date
    open_flags: int
    event_id: str | None
    already_issued: bool
    links: dict[str, str]


def issue_letter(session: Session, *, operator_id: int, today: date | None = None) -> dict[str, Any]:
    """Record that the operator's letter goes out today and tell the operator. Raises NotFound for an unknown
    operator. Does not commit."""
    today = today or calendar.today()
    if (
        session.execute(
            text("SELECT 1 FROM organisation WHERE id = :o AND kind = 'operator'"), {"o": operator_id}
        ).first()
        is None
    ):
        raise NotFound(what="operator", ref=operator_id)
    open_flags = session.execute(
        text("""SELECT count(*) FROM compliance_flag WHERE operator_ids @> ARRAY[CAST(:o AS bigint)]
                AND status IN ('open', 'acknowledged')"""),
        {"o": operator_id},
    ).scalar_one()
    deadline = today + timedelta(days=DEADLINE_DAYS)
    key = f"{EventType.COMPLIANCE_LETTER_ISSUED}:{operator_id}:{today.isoformat()}"
    event_id = emit(
        session,
        type=EventType.COMPLIANCE_LETTER_ISSUED,
        operator_id=operator_id,
        subject=f"organisation:{operator_id}",
        payload={
            "operator_id": operator_id,
            "issued_on": today,
            "deadline": deadline,
            "flags": open_flags,
            "links": links.letter(operator_id),
        },
        dedupe_key=key,
    )
    already = event_id is None
    if already:
        event_id = session.execute(
            text("SELECT id FROM notification_event WHERE city_id = current_city_id() AND dedupe_key = :k"), {"k": key}
        ).scalar()
    return {
        "operator_id": operator_id,
        "issued_on": today,
        "deadline": deadline,
        "open_flags": open_flags,
        "event_id": str(event_id) if event_id else None,
        "already_issued": already,
        "links": links.letter(operator_id),
    }


@router.post(
    "/letters/{operator_id}/issue",
    status_code=201,
    response_model=LetterIssuedOut,
    responses={200: {"model": LetterIssuedOut, "description": "Already issued today: the same letter, nothing sent"}},
    summary="Issue the compliance letter to the operator (it is told, with the letter's link)",
)
def post_issue_letter(
    operator_id: Annotated[int, Path(ge=1, le=2**63 - 1)], session: SessionDep, actor: ManagerDep, response: Response
) -> LetterIssuedOut:
    out = LetterIssuedOut(**issue_letter(session, operator_id=operator_id))
    session.commit()
    if out.already_issued:
        response.status_code = 200
    return out
