"""Expert-checked recordings as a training dataset (flow step 7; ARCHITECTURE.md, Datasets).

Writes the ml dataset format with ml.dataset's writers: the WAV files, `labels.csv` (one row per file, its
final label, the time-expansion factor the app used) and `events.csv` with the detected calls of each file
labelled with the reviewed species. Retraining reads the folder with `ml.dataset.read_dataset`.

Which recordings: those whose final label comes from a review and says confirmed, corrected or no bat
(unsure decisions and recordings waiting in a double review are not labels). `no_bat` files are written as
`noise`: they teach the model what is not a bat, which is what it gets wrong most.

events.csv and ml.training_data: with events, a detection that overlaps none of them is taught as noise, so
a file gets events only when every detected call maps onto a reviewed species without guessing (or is
noise); otherwise it gets none and its file label stands for all its calls.
"""

from __future__ import annotations

import re
import shutil
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from classifier.final_labels import FinalLabel, final_labels
from classifier.models import CallDetection, LabelDecision, Prediction, ReviewStatus
from ml import labels
from ml.dataset import DatasetFile, EventLabel, write_dataset
from surveys.models import Project, Recording

EXPORTED_STATUSES = (ReviewStatus.CONFIRMED, ReviewStatus.CORRECTED, ReviewStatus.NO_BAT)
AUDIO_FOLDER = "audio"
SOURCE = "batsite expert review"


@dataclass(frozen=True)
class ExportSummary:
    folder: Path
    files: int
    files_with_events: int
    events: int
    missing: tuple[int, ...]  # recordings whose audio file is missing from storage (left out)


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "site"


def _event_species(call_species: str, final: FinalLabel) -> str | None:
    """The reviewed species of one detected call, or None when it cannot be told without guessing."""
    if call_species == labels.NOISE:
        return labels.NOISE
    bats = [s for s in final.species_present if s != labels.NOISE]
    if not bats:
        return labels.NOISE  # the reviewer said no bat: whatever was detected is not one
    if call_species in bats:
        return call_species
    if len(bats) == 1:
        return bats[0]  # the reviewer says this is the only bat in the file
    group = labels.group_of(call_species)
    matching = [s for s in bats if s == group or labels.group_of(s) == group]
    return matching[0] if len(matching) == 1 else None


def _events(calls: Iterable[CallDetection], final: FinalLabel) -> tuple[EventLabel, ...]:
    events = []
    for call in calls:
        species = _event_species(call.species, final)
        if species is None:
            return ()  # one ambiguous call: leave the whole file to its file label (module docstring)
        if species == labels.NOISE:
            call_type = "none"
        elif call.call_type in final.call_types or not final.call_types:
            call_type = call.call_type
        else:
            call_type = final.call_type
        events.append(EventLabel(start_s=call.start_s, end_s=call.end_s, low_hz=call.low_hz, high_hz=call.high_hz,
                                 species=species, call_type=call_type,
                                 extra={"peak_hz": f"{call.peak_hz:.1f}", "snr_db": f"{call.snr_db:.1f}",
                                        "detected_species": call.species}))  # fmt: skip
    return tuple(events)


def reviewed_recording_ids(project: Project | None = None) -> list[int]:
    decisions = LabelDecision.objects.all()
    if project is not None:
        decisions = decisions.filter(recording__project=project)
    return sorted(set(decisions.values_list("recording_id", flat=True)))


def review_export(
    *, folder: str | Path, project: Project | None = None, include_no_bat: bool = True, with_events: bool = True
) -> ExportSummary:
    """Write every expert-labelled recording (of `project`, or of all projects) as a dataset in `folder`."""
    folder = Path(folder)
    statuses = {s for s in EXPORTED_STATUSES if include_no_bat or s != ReviewStatus.NO_BAT}
    finals = final_labels(reviewed_recording_ids(project))
    chosen = {pk: f for pk, f in finals.items() if f.source == "review" and f.review_status in statuses}
    recordings = Recording.objects.filter(pk__in=list(chosen)).select_related("visit__site", "project").order_by("pk")
    analyses = dict(
        Prediction.objects.filter(pk__in=[f.prediction_id for f in chosen.values() if f.prediction_id])
        .values_list("pk", "analysis_id")
    )
    calls: dict[int, list[CallDetection]] = defaultdict(list)
    if with_events:
        for call in CallDetection.objects.filter(analysis_id__in=list(analyses.values())).order_by("analysis", "start_s"):
            calls[call.analysis_id].append(call)
    files: list[DatasetFile] = []
    missing: list[int] = []
    for recording in recordings:
        final = chosen[recording.pk]
        relative = Path(AUDIO_FOLDER) / _safe(recording.visit.site.code) / f"{recording.pk}_{recording.sha256[:12]}.wav"
        target = folder / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            with recording.file.open("rb") as source, open(target, "wb") as out:
                shutil.copyfileobj(source, out, length=1 << 20)
        except (FileNotFoundError, OSError, ValueError):
            target.unlink(missing_ok=True)
            missing.append(recording.pk)
            continue
        species = final.species_present or (labels.NOISE,)
        events = _events(calls.get(analyses.get(final.prediction_id, -1), ()), final) if with_events else ()
        files.append(
            DatasetFile(
                path=target,
                species=species[0],
                call_types=final.call_types or (("none",) if species[0] == labels.NOISE else ()),
                time_expansion=float(recording.time_expansion or 1.0),
                source=f"{SOURCE}: {recording.project.name}, recording {recording.pk}",
                licence="",
                events=events,
                extra={
                    "species_present": ";".join(species),
                    "review_status": final.review_status,
                    "reviewer": final.reviewer,
                    "reviewed_at": final.reviewed_at.isoformat() if final.reviewed_at else "",
                    "recording_id": str(recording.pk),
                    "sha256": recording.sha256,
                    "original_name": recording.original_name,
                    "site": recording.visit.site.code,
                    "night": recording.visit.night.isoformat(),
                },
            )
        )
    write_dataset(folder, files)
    return ExportSummary(
        folder=folder,
        files=len(files),
        files_with_events=sum(1 for f in files if f.events),
        events=sum(len(f.events) for f in files),
        missing=tuple(missing),
    )
