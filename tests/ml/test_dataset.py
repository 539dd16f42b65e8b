"""ml.dataset: the dataset folder format read and written as ARCHITECTURE.md says."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from ml.dataset import (
    DatasetError,
    DatasetFile,
    EventLabel,
    read_dataset,
    write_dataset,
    write_labels,
)


def _write(folder: Path, labels: str, events: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "labels.csv").write_text(labels, encoding="utf-8")
    if events is not None:
        (folder / "events.csv").write_text(events, encoding="utf-8")
    return folder


def test_written_dataset_reads_back_with_events_and_extra_columns(tmp_path):
    files = [
        DatasetFile(
            path=tmp_path / "a.wav",
            species="Pipistrellus pipistrellus",
            call_types=("echolocation", "feeding_buzz"),
            time_expansion=1.0,
            source="synthetic, seed 1",
            licence="CC0-1.0",
            events=(
                EventLabel(
                    0.012345,
                    0.018,
                    44_250.5,
                    61_000.0,
                    "Pipistrellus pipistrellus",
                    "echolocation",
                    extra={"snr_db": "31.5"},
                ),
                EventLabel(
                    0.5,
                    0.5007,
                    35_000.0,
                    48_000.0,
                    "Pipistrellus pipistrellus",
                    "feeding_buzz",
                    extra={"snr_db": "20.0"},
                ),
            ),
            extra={"true_sample_rate_hz": "384000"},
        ),
        DatasetFile(
            path=tmp_path / "sub" / "b.wav",
            species="noise",
            call_types=("none",),
            time_expansion=10.0,
            source='Someone, "quoted", with commas',
            licence="CC-BY-4.0",
            extra={"true_sample_rate_hz": "500000"},
        ),
    ]
    write_dataset(tmp_path, files)

    back = read_dataset(tmp_path)

    assert [f.path for f in back] == [tmp_path / "a.wav", tmp_path / "sub" / "b.wav"]
    assert back[0].call_types == ("echolocation", "feeding_buzz") and back[0].call_type == "echolocation"
    assert back[1].time_expansion == 10.0 and back[1].source == 'Someone, "quoted", with commas'
    assert back[1].events == () and back[1].extra == {"true_sample_rate_hz": "500000"}
    first = back[0].events[0]
    assert (first.start_s, first.end_s, first.low_hz, first.high_hz) == (0.012345, 0.018, 44_250.5, 61_000.0)
    assert first.extra == {"snr_db": "31.5"}
    assert back[0].events[1].call_type == "feeding_buzz"


def test_labels_csv_paths_are_relative_to_the_folder(tmp_path):
    write_labels(tmp_path, [DatasetFile(tmp_path / "x" / "y.wav", "noise", ("none",), 1.0, "s", "CC0-1.0")])
    assert (tmp_path / "labels.csv").read_text().splitlines()[1].startswith("x/y.wav,noise,none,1,")


def test_empty_time_expansion_means_one_and_call_type_may_list_several(tmp_path):
    folder = _write(
        tmp_path,
        "path,species,call_type,time_expansion,source,licence\n"
        "a.wav,Pipistrellus pipistrellus,echolocation; social_call,,me,CC0-1.0\n",
    )
    (f,) = read_dataset(folder)
    assert f.time_expansion == 1.0
    assert f.call_types == ("echolocation", "social_call")
    assert f.events == ()


def test_events_are_attached_to_their_file_sorted_by_start(tmp_path):
    folder = _write(
        tmp_path,
        "path,species,call_type,time_expansion,source,licence\na.wav,noise,none,1,me,CC0-1.0\n"
        "b.wav,Myotis daubentonii,echolocation,1,me,CC0-1.0\n",
        "path,start_s,end_s,low_hz,high_hz,species,call_type\n"
        "b.wav,0.5,0.503,30000,80000,Myotis daubentonii,echolocation\n"
        "b.wav,0.1,0.103,30000,80000,Myotis daubentonii,echolocation\n",
    )
    a, b = read_dataset(folder)
    assert a.events == ()
    assert [e.start_s for e in b.events] == [0.1, 0.5]


def test_windows_backslash_paths_join_events_to_labels(tmp_path):
    folder = _write(
        tmp_path,
        "path,species,call_type,time_expansion,source,licence\nsub\\a.wav,noise,none,1,me,CC0-1.0\n",
        "path,start_s,end_s,low_hz,high_hz,species,call_type\nsub/a.wav,0.1,0.2,20000,30000,noise,none\n",
    )
    (f,) = read_dataset(folder)
    assert f.path == folder / "sub" / "a.wav" and len(f.events) == 1


def test_spreadsheet_byte_order_mark_does_not_hide_the_path_column(tmp_path):
    folder = _write(
        tmp_path, "\ufeffpath,species,call_type,time_expansion,source,licence\na.wav,noise,none,,,\n"
    )
    assert read_dataset(folder)[0].path == folder / "a.wav"


def test_event_of_a_file_labels_csv_does_not_list_raises_dataset_error(tmp_path):
    folder = _write(
        tmp_path,
        "path,species,call_type,time_expansion,source,licence\na.wav,noise,none,1,me,CC0-1.0\n",
        "path,start_s,end_s,low_hz,high_hz,species,call_type\ntypo.wav,0.1,0.2,20000,30000,noise,none\n",
    )
    with pytest.raises(DatasetError, match=r"events.csv, line 2: 'typo.wav' has no row in labels.csv"):
        read_dataset(folder)


def test_folder_without_labels_csv_raises_dataset_error(tmp_path):
    with pytest.raises(DatasetError, match="not a dataset folder"):
        read_dataset(tmp_path)


def test_missing_required_column_is_named(tmp_path):
    folder = _write(tmp_path, "file,species\na.wav,noise\n")
    with pytest.raises(DatasetError, match="missing column.*path"):
        read_dataset(folder)


def test_a_value_that_is_not_a_number_names_file_line_and_column(tmp_path):
    folder = _write(
        tmp_path,
        "path,species,call_type,time_expansion,source,licence\na.wav,noise,none,1,me,CC0-1.0\n",
        "path,start_s,end_s,low_hz,high_hz,species,call_type\na.wav,0.1,soon,20000,30000,noise,none\n",
    )
    with pytest.raises(DatasetError, match=r"line 2: end_s 'soon' is not a number"):
        read_dataset(folder)


def test_duplicate_file_rows_raise_dataset_error(tmp_path):
    folder = _write(
        tmp_path,
        "path,species,call_type,time_expansion,source,licence\na.wav,noise,none,1,,\na.wav,noise,none,1,,\n",
    )
    with pytest.raises(DatasetError, match="already listed on line 2"):
        read_dataset(folder)


def test_writing_a_file_outside_the_folder_raises_dataset_error(tmp_path):
    outside = DatasetFile(tmp_path.parent / "elsewhere.wav", "noise", ("none",), 1.0, "", "")
    with pytest.raises(DatasetError, match="not inside the dataset folder"):
        write_labels(tmp_path / "ds", [outside])


def test_real_labelled_europe_folder_reads_with_its_extra_columns(shared_data):
    files = read_dataset(shared_data / "recordings" / "labelled-europe")

    assert len(files) == 38
    assert sum(len(f.events) for f in files) == 1151
    tadarida = [f for f in files if f.path.parent.name == "tadarida"]
    assert len(tadarida) == 25 and all(f.time_expansion == 10.0 for f in tadarida)
    assert all(f.path.is_file() for f in files)
    # Only the tadarida files have call boxes; the BatInspector clips are labelled per file.
    assert all(f.events == () for f in files if f.path.parent.name == "batinspector")
    noise_events = [e for f in files for e in f.events if e.species == "noise"]
    assert len(noise_events) == 428 and {e.call_type for e in noise_events} == {"none"}
    assert {e.extra["noise_kind"] for e in noise_events} == {"insect", "bird", "other"}
    buzz = [e for f in files for e in f.events if e.call_type == "feeding_buzz"]
    assert len(buzz) == 13 and all(e.species == "Pipistrellus pipistrellus" for e in buzz)
    assert all(0 <= e.start_s <= e.end_s and not math.isnan(e.low_hz) for f in files for e in f.events)
    social = next(f for f in files if "social" in f.path.name)
    assert social.species == "Vespertilio murinus" and social.call_types == ("social_call",)
    assert {f.licence for f in files} == {"GPL-3.0", "CC-BY-NC-SA-3.0-DE"}
