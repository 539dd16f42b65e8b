"""Response shapes of the classifier endpoints. Labels are the ids of ARCHITECTURE.md (scientific names,
named pairs, group ids, `noise`); times are true times in seconds from the start of the file."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal

from ninja import Field, Schema

from surveys.api.schemas import RecordingOut

AnalysisStateName = Literal["queued", "running", "done", "failed"]


class AnalysisOut(Schema):
    """The analysis of the recording by one model version, and its job state."""

    id: int
    model_version: str
    is_active_model: bool
    state: AnalysisStateName
    error: str
    queued_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None


class RecordingStatusOut(RecordingOut):
    analysis: AnalysisOut | None = Field(
        description="The analysis shown for the recording: the active model's, else the newest one."
    )


class Probability(Schema):
    label: str
    probability: float | None


class PredictionOut(Schema):
    """The recording-level result: every species with at least one pass, dominant first."""

    recording_id: int
    model_version: str
    species: str = Field(description="The answer after any fallback to the species group.")
    species_group: str
    species_present: list[str]
    call_type: str
    call_types: list[str]
    confidence: float
    margin: float
    top: list[Probability]
    n_calls: int
    n_passes: int
    feeding_buzzes: int
    social_calls: int
    created_at: dt.datetime


class CallOut(Schema):
    start_s: float | None
    end_s: float | None
    low_hz: float | None
    high_hz: float | None
    peak_hz: float | None
    snr_db: float | None
    species: str
    call_type: str
    confidence: float | None
    pass_index: int = Field(description="The pass the call belongs to, -1 when none.")
    novel: bool = Field(
        default=False,
        description="An echolocation call unlike every class the model knows, answered Chiroptera sp.",
    )


class CallsOut(Schema):
    recording_id: int
    model_version: str | None
    state: AnalysisStateName | None
    calls: list[CallOut]


class FinalLabelOut(Schema):
    """The latest review decision, else the prediction (docs/final-labels.md)."""

    recording_id: int
    species_present: list[str] = Field(description='Dominant first; ["noise"] when there is no bat.')
    call_types: list[str]
    source: Literal["review", "prediction", "none"]
    review_status: str = Field(
        description="not_reviewed, confirmed, corrected, unsure, no_bat, awaiting_second_review or disagreement."
    )
    reviewer: str
    reviewed_at: dt.datetime | None
    reviewed_species: list[str]
    reviewed_call_types: list[str]
    removed_species: list[str]
    added_species: list[str]


class QuickPassOut(Schema):
    species: str
    start_s: float | None
    end_s: float | None
    n_calls: int
    call_types: list[str]
    confidence: float | None


class QuickAnalysisOut(Schema):
    file: str
    model_version: str
    duration_s: float | None
    sample_rate_hz: int | None
    time_expansion: float | None
    species: str
    species_group: str
    species_present: list[str]
    call_type: str
    call_types: list[str]
    confidence: float | None
    top: list[Probability]
    passes: list[QuickPassOut]
    calls: list[CallOut]


class AnalyseJobOut(Schema):
    """200: `state` is done and `analysis` holds the result (the job is gone now). 202: still queued or
    running; poll `url` (GET) until it answers 200."""

    id: uuid.UUID
    state: AnalysisStateName
    url: str
    analysis: QuickAnalysisOut | None
