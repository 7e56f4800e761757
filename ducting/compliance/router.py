"""HTTP endpoints of this domain (mounted by ducting.app.create_app)."""

from fastapi import APIRouter

router = APIRouter()
