"""The dataset folder format: what the classifier trains and is scored on and the detector is checked against.

A dataset is a folder of WAV files plus `labels.csv` (one row per file) and, optionally, `events.csv` (one row
per labelled call), as ARCHITECTURE.md ("Datasets") describes:

    labels.csv  path, species, call_type, time_expansion, source, licence, [extra columns]
    events.csv  path, start_s, end_s, low_hz, high_hz, species, call_type, [extra columns]

`path` is relative to the folder; `call_type` may list several types separated by `;`, the main one first;
an empty `time_expansion` means 1 (it is used only when the file has no GUANO `TE`); event times are true
times (after time-expansion correction). Extra columns are kept as text in `extra`, so reading and writing a
folder again loses nothing. The synthetic generator (ml.synth), the review export and the Xeno-Canto importer
write this format with `write_dataset`; training, evaluation and the detector benchmark read it with
`read_dataset`.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "EVENT_COLUMNS",
    "LABEL_COLUMNS",
    "DatasetError",
    "DatasetFile",
    "EventLabel",
    "read_dataset",
    "write_dataset",
    "write_events",
    "write_labels",
]

LABEL_COLUMNS: tuple[str, ...] = ("path", "species", "call_type", "time_expansion", "source", "licence")
EVENT_COLUMNS: tuple[str, ...] = ("path", "start_s", "end_s", "low_hz", "high_hz", "species", "call_type")
LABELS_FILE = "labels.csv"
EVENTS_FILE = "events.csv"
CALL_TYPE_SEPARATOR = ";"


class DatasetError(ValueError):
    """A dataset folder that cannot be read as the format says: the message names the file and line."""


@dataclass(frozen=True)
class EventLabel:
    """One labelled call (or noise event) inside a file, in true time and frequency."""

    start_s: float
    end_s: float
    low_hz: float
    high_hz: float
    species: str
    call_type: str
    # Columns beyond EVENT_COLUMNS (e.g. peak_hz, snr_db, noise_kind), as text; kept for round-trips.
    extra: Mapping[str, str] = field(default_factory=dict, hash=False)

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


@dataclass(frozen=True)
class DatasetFile:
    """One row of labels.csv with the events.csv rows of the same file."""

    path: Path  # the folder joined with the relative path of labels.csv
    species: str  # the file's dominant species, as written (a class, a true species, a group or `noise`)
    call_types: tuple[str, ...]  # main type first; () when the column is empty
    time_expansion: float  # used when the file has no GUANO TE; 1 when the column is empty
    source: str
    licence: str
    events: tuple[EventLabel, ...] = ()  # sorted by start time; () when the file has no events.csv rows
    extra: Mapping[str, str] = field(default_factory=dict, hash=False)

    @property
    def call_type(self) -> str:
        """The main call type, "" when none is given."""
        return self.call_types[0] if self.call_types else ""


# --------------------------------------------------------------------------------------------------- reading


def _read_rows(
    csv_path: Path, required: tuple[str, ...]
) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    # utf-8-sig: spreadsheet exports often start with a byte-order mark that would otherwise stick to "path".
    with csv_path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        try:
            header = [name.strip() for name in next(reader)]
        except StopIteration:
            raise DatasetError(f"{csv_path}: the file is empty; expected a header line") from None
        missing = [name for name in required if name not in header]
        if missing:
            raise DatasetError(
                f"{csv_path}: missing column(s) {', '.join(missing)}; found {', '.join(header)}"
            )
        rows = []
        for line_number, values in enumerate(reader, start=2):
            if not any(value.strip() for value in values):
                continue  # blank lines, e.g. a trailing one written by hand
            if len(values) > len(header):
                raise DatasetError(
                    f"{csv_path}, line {line_number}: {len(values)} values for {len(header)} columns"
                )
            values = values + [""] * (len(header) - len(values))
            rows.append(
                (line_number, {name: value.strip() for name, value in zip(header, values, strict=True)})
            )
    return header, rows


def _number(text: str, *, where: str, column: str, default: float | None = None) -> float:
    if text == "" and default is not None:
        return default
    try:
        value = float(text)
    except ValueError:
        raise DatasetError(f"{where}: {column} {text!r} is not a number") from None
    if not math.isfinite(value):
        raise DatasetError(f"{where}: {column} {text!r} is not a finite number")
    return value


def _extra(row: dict[str, str], known: tuple[str, ...]) -> dict[str, str]:
    return {name: value for name, value in row.items() if name not in known}


def _call_types(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(CALL_TYPE_SEPARATOR) if part.strip())


def _normalised(relative: str) -> str:
    # Windows exports write backslashes; events.csv and labels.csv must agree on one spelling to be joined.
    return Path(relative.replace("\\", "/")).as_posix()


def _read_events(folder: Path, known_paths: set[str]) -> dict[str, list[EventLabel]]:
    events_path = folder / EVENTS_FILE
    by_path: dict[str, list[EventLabel]] = {}
    if not events_path.exists():
        return by_path
    _, rows = _read_rows(events_path, ("path", "start_s", "end_s"))
    for line_number, row in rows:
        where = f"{events_path}, line {line_number}"
        relative = _normalised(row["path"])
        if relative not in known_paths:
            raise DatasetError(f"{where}: {row['path']!r} has no row in {LABELS_FILE}")
        start_s = _number(row["start_s"], where=where, column="start_s")
        end_s = _number(row["end_s"], where=where, column="end_s")
        if end_s < start_s:
            raise DatasetError(f"{where}: end_s {end_s} is before start_s {start_s}")
        low_hz = _number(row.get("low_hz", ""), where=where, column="low_hz", default=math.nan)
        high_hz = _number(row.get("high_hz", ""), where=where, column="high_hz", default=math.nan)
        event = EventLabel(
            start_s=start_s,
            end_s=end_s,
            low_hz=low_hz,
            high_hz=high_hz,
            species=row.get("species", ""),
            call_type=row.get("call_type", ""),
            extra=_extra(row, EVENT_COLUMNS),
        )
        by_path.setdefault(relative, []).append(event)
    return by_path


def read_dataset(folder: str | os.PathLike[str]) -> tuple[DatasetFile, ...]:
    """Every file of a dataset folder with its labels and events, in labels.csv order.

    Species and call types are returned as written: mapping foreign or true-species names onto the classes
    of a label set is `ml.labels.to_class`'s job. Raises `DatasetError` for a missing labels.csv, a missing
    column, a number that is not one, a duplicate file or an event of a file labels.csv does not list.
    """
    folder = Path(folder)
    labels_path = folder / LABELS_FILE
    if not labels_path.is_file():
        raise DatasetError(f"{folder}: not a dataset folder (no {LABELS_FILE})")
    _, rows = _read_rows(labels_path, ("path", "species"))
    seen: dict[str, int] = {}
    for line_number, row in rows:
        relative = _normalised(row["path"])
        if not row["path"]:
            raise DatasetError(f"{labels_path}, line {line_number}: empty path")
        if relative in seen:
            raise DatasetError(
                f"{labels_path}, line {line_number}: {relative} already listed on line {seen[relative]}"
            )
        seen[relative] = line_number
    events = _read_events(folder, set(seen))
    files = []
    for line_number, row in rows:
        relative = _normalised(row["path"])
        where = f"{labels_path}, line {line_number}"
        time_expansion = _number(
            row.get("time_expansion", ""), where=where, column="time_expansion", default=1.0
        )
        if time_expansion <= 0:
            raise DatasetError(f"{where}: time_expansion must be positive, not {time_expansion}")
        files.append(
            DatasetFile(
                path=folder / relative,
                species=row["species"],
                call_types=_call_types(row.get("call_type", "")),
                time_expansion=time_expansion,
                source=row.get("source", ""),
                licence=row.get("licence", ""),
                events=tuple(sorted(events.get(relative, ()), key=lambda e: (e.start_s, e.end_s))),
                extra=_extra(row, LABEL_COLUMNS),
            )
        )
    return tuple(files)


# --------------------------------------------------------------------------------------------------- writing


def _relative(path: Path, folder: Path) -> str:
    if path.is_relative_to(folder):
        return path.relative_to(folder).as_posix()
    if not path.is_absolute():
        return path.as_posix()  # already relative to the folder
    try:
        return path.resolve().relative_to(folder.resolve()).as_posix()
    except ValueError:
        raise DatasetError(f"{path} is not inside the dataset folder {folder}") from None


def _format(value: float, decimals: int) -> str:
    """Fixed decimals without trailing zeros: 0.0123 not 0.012300, 10 not 10.0; NaN as an empty cell."""
    if math.isnan(value):
        return ""
    text = f"{value:.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _extra_columns(mappings: Iterable[Mapping[str, str]], known: tuple[str, ...]) -> list[str]:
    columns: dict[str, None] = {}
    for mapping in mappings:
        for name in mapping:
            if name not in known:
                columns.setdefault(name, None)
    return list(columns)


def _write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_labels(folder: str | os.PathLike[str], files: Iterable[DatasetFile]) -> Path:
    """Write labels.csv: one row per file, the standard columns first, then every extra column seen.

    Rows are built before the file is opened, so a file outside the folder raises without leaving a half
    written labels.csv behind."""
    folder = Path(folder)
    files = list(files)
    extra_columns = _extra_columns((f.extra for f in files), LABEL_COLUMNS)
    rows = [
        [
            _relative(f.path, folder),
            f.species,
            CALL_TYPE_SEPARATOR.join(f.call_types),
            _format(f.time_expansion, 6),
            f.source,
            f.licence,
            *(f.extra.get(name, "") for name in extra_columns),
        ]
        for f in files
    ]
    return _write_csv(folder / LABELS_FILE, [*LABEL_COLUMNS, *extra_columns], rows)


def write_events(folder: str | os.PathLike[str], files: Iterable[DatasetFile]) -> Path:
    """Write events.csv with every event of every file (times to the microsecond, frequencies to 0.1 Hz)."""
    folder = Path(folder)
    files = list(files)
    extra_columns = _extra_columns((e.extra for f in files for e in f.events), EVENT_COLUMNS)
    rows = []
    for f in files:
        relative = _relative(f.path, folder)
        for e in f.events:
            rows.append(
                [
                    relative,
                    _format(e.start_s, 6),
                    _format(e.end_s, 6),
                    _format(e.low_hz, 1),
                    _format(e.high_hz, 1),
                    e.species,
                    e.call_type,
                    *(e.extra.get(name, "") for name in extra_columns),
                ]
            )
    return _write_csv(folder / EVENTS_FILE, [*EVENT_COLUMNS, *extra_columns], rows)


def write_dataset(folder: str | os.PathLike[str], files: Iterable[DatasetFile]) -> Path:
    """Write labels.csv and events.csv into `folder` (created if missing; the WAV files are the caller's)."""
    folder = Path(folder)
    files = list(files)
    write_labels(folder, files)
    write_events(folder, files)
    return folder
