"""Compliance thresholds and limits: one pydantic-settings group, environment prefix `DUCTING_COMPLIANCE_`.

Kept beside the rules that read it rather than in `ducting/settings.py` so the domain stays in its own room; the
app's `Settings` may embed it as a field later without changing a name.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ComplianceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DUCTING_COMPLIANCE_", extra="ignore")

    # low_clearance_road: Jakarta's rule is 4.0 m over a road; the US NESC uses 4.7 m (15.5 ft) over roads.
    road_clearance_m: float = Field(default=4.0, gt=0, le=10)
    sidewalk_clearance_m: float = Field(default=3.0, gt=0, le=10)
    # overloaded_pole: no published Indonesian limit exists; 6 is a working number, to be set by the city.
    max_attachments_per_pole: int = Field(default=6, ge=1, le=100)
    # duct_available
    duct_distance_m: float = Field(default=15.0, gt=0, le=100)
    duct_min_parallel_m: float = Field(default=50.0, gt=0, le=1000)
    duct_max_angle_deg: float = Field(default=20.0, gt=0, lt=90)
    # survey import
    pole_match_tolerance_m: float = Field(default=3.0, gt=0, le=25)
    max_survey_rows: int = Field(default=50_000, ge=1)
    # citizen reports
    report_rate_limit: int = Field(default=5, ge=1, description="reports per client address per window")
    report_rate_window_s: int = Field(default=3600, ge=60)
    report_max_photo_bytes: int = Field(default=5 * 1024 * 1024, ge=10_000)
    report_max_photo_pixels: int = Field(default=40_000_000, ge=10_000)
    report_photo_max_side_px: int = Field(default=1600, ge=200)
    # letters: where an operator requests the proposed route (the leasing UI)
    request_url_base: str = "https://bedelau.batam.go.id/operator"

    @model_validator(mode="after")
    def _sidewalk_not_above_road(self) -> ComplianceSettings:
        if self.sidewalk_clearance_m > self.road_clearance_m:
            raise ValueError("DUCTING_COMPLIANCE_SIDEWALK_CLEARANCE_M must not exceed the road clearance")
        return self


@lru_cache(maxsize=1)
def get_compliance_settings() -> ComplianceSettings:
    return ComplianceSettings()
