"""ml.metadata: GUANO read/write (also where guano-py cannot open the file), time stamps, Batlogger XML."""

from __future__ import annotations

import struct
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from ml.audio import NotAudioError, TruncatedAudioError, load_audio, scan_riff_chunks
from ml.metadata import (
    MAX_GUANO_BYTES,
    format_guano,
    parse_guano,
    parse_guano_timestamp,
    read_batlogger_xml,
    read_guano,
    read_metadata,
    timestamp_from_filename,
    write_guano,
)

from .conftest import append_guano_chunk


US_EASTERN = timezone(timedelta(hours=-5))


def riff_size_matches_file(path: Path) -> bool:
    data = path.read_bytes()
    return struct.unpack("<I", data[4:8])[0] == len(data) - 8


# --------------------------------------------------------------------------------------------- read


def test_real_nabat_file_gives_its_species_code_and_timestamp(shared_data):
    path = shared_data / "recordings" / "guano" / "LABO-1949440.wav"

    fields = read_guano(path)
    meta = read_metadata(path)

    assert fields["Species Manual ID"] == "LABO"
    assert fields["NABAT|File Id"] == "1949440"
    assert meta.species_manual_id == "LABO"
    assert meta.timestamp == datetime(2019, 7, 1, 22, 23, 31)
    assert meta.timestamp_source == "guano"
    assert meta.make == "Wildlife Acoustics" and meta.model == "SMM-U1"


def test_real_batlogger_file_gives_position_and_serial(shared_data):
    meta = read_metadata(shared_data / "recordings" / "formats" / "0166_20240531_223911.wav")

    assert meta.latitude == pytest.approx(49.093119) and meta.longitude == pytest.approx(5.047867)
    assert meta.make == "BATLOGGER" and meta.serial == "22060166"
    assert meta.guano["BATLOGGER|Trigger|Frequency"] == "75.4"


def test_real_echo_meter_offset_without_colon_gives_an_aware_timestamp(shared_data):
    meta = read_metadata(shared_data / "recordings" / "formats" / "Echometer.wav")

    assert meta.timestamp == datetime(2022, 8, 15, 21, 34, 14, tzinfo=timezone(timedelta(hours=1)))
    assert meta.species_manual_id == "PIPPIP"


def test_file_without_guano_gives_empty_fields(wav_factory):
    path = wav_factory()

    assert read_guano(path) == {}
    meta = read_metadata(path)
    assert meta.time_expansion is None and meta.timestamp is None and meta.guano == {}


@pytest.mark.parametrize(
    ("subtype", "extensible"), [("FLOAT", False), ("PCM_24", True), ("FLOAT", True), ("PCM_16", False)]
)
def test_guano_is_read_from_float_and_extensible_files(wav_factory, subtype, extensible):
    # guano-py opens files with the stdlib `wave` module, which refuses these; the RIFF scan takes over.
    path = wav_factory(subtype=subtype, extensible=extensible, guano={"TE": 10, "Species Manual ID": "Ppip"})

    fields = read_guano(path)

    assert fields["TE"] == "10"
    assert fields["Species Manual ID"] == "Ppip"
    assert fields["GUANO|Version"] == "1.0"


def test_guano_with_a_line_guano_py_rejects_still_yields_the_other_fields(wav_factory):
    path = wav_factory()
    payload = b"GUANO|Version: 1.0\nthis line has no colon\nTimestamp: 2024-06-12T22:31:00+02:00\nTE: 10\n"
    with open(path, "r+b") as f:
        f.seek(0, 2)
        f.write(b"guan" + struct.pack("<I", len(payload)) + payload)
        size = f.tell()
        f.seek(4)
        f.write(struct.pack("<I", size - 8))

    fields = read_guano(path)

    assert fields["TE"] == "10"
    assert read_metadata(path).timestamp == datetime(2024, 6, 12, 22, 31, tzinfo=timezone(timedelta(hours=2)))


def test_oversized_guano_chunk_is_ignored_and_audio_still_loads(wav_factory):
    path = wav_factory(guano={"TE": 10, "Note": "x" * (MAX_GUANO_BYTES + 10)}, sample_rate_hz=384_000)

    assert read_guano(path) == {}
    assert load_audio(path).time_expansion == 1.0


def test_truncated_guano_chunk_keeps_only_complete_lines(wav_factory):
    path = wav_factory(guano={"Make": "Elekon", "Timestamp": "2024-06-12T22:31:00+02:00"})
    path.write_bytes(path.read_bytes()[:-8])  # cut into the Timestamp line

    fields = read_guano(path)

    assert fields.get("Make") == "Elekon"
    assert "Timestamp" not in fields
    assert load_audio(path).duration_s == pytest.approx(0.1)


def test_odd_sized_chunk_without_its_pad_byte_is_tolerated(wav_factory):
    path = wav_factory()
    junk = b"abc"  # odd length, written without the pad byte some writers forget
    with open(path, "r+b") as f:
        f.seek(0, 2)
        f.write(b"junk" + struct.pack("<I", len(junk)) + junk)
    append_guano_chunk(path, {"TE": 10})

    assert read_guano(path)["TE"] == "10"


def test_chunk_with_a_huge_declared_size_does_not_hang_or_crash(wav_factory):
    path = wav_factory()
    with open(path, "ab") as f:
        f.write(b"guan" + struct.pack("<I", 0xFFFFFFF0) + b"TE: 10\n")

    assert read_guano(path) == {}
    assert load_audio(path).samples.size > 0


def test_parse_guano_follows_the_spec_for_namespaces_and_whitespace():
    text = "GUANO|Version:1.0\r\n  WA|Song Meter|Prefix :  SM4 \nTimestamp: 2020-01-01T00:00:00\n\x00\x00"

    assert parse_guano(text.encode()) == {
        "GUANO|Version": "1.0",
        "WA|Song Meter|Prefix": "SM4",
        "Timestamp": "2020-01-01T00:00:00",
    }


# --------------------------------------------------------------------------------------------- write


@pytest.mark.parametrize(
    ("subtype", "extensible"), [("PCM_16", False), ("FLOAT", False), ("PCM_24", True), ("FLOAT", True)]
)
def test_guano_round_trip_keeps_the_audio_byte_for_byte(wav_factory, subtype, extensible):
    path = wav_factory(subtype=subtype, extensible=extensible, kind="noise")
    before, rate = sf.read(str(path))
    stamp = datetime(2024, 6, 12, 22, 31, 5, tzinfo=timezone(timedelta(hours=2)))

    fields = {"TE": 10, "Timestamp": stamp, "Loc Position": "52.1 5.2", "Species Manual ID": "PIPPIP"}

    write_guano(path, fields)

    after, rate_after = sf.read(str(path))
    assert rate_after == rate and np.array_equal(before, after)
    assert riff_size_matches_file(path)
    meta = read_metadata(path)
    assert meta.time_expansion == 10
    assert meta.timestamp == stamp
    assert (meta.latitude, meta.longitude) == (52.1, 5.2)
    assert meta.species_manual_id == "PIPPIP"
    assert meta.guano["GUANO|Version"] == "1.0"


def test_rewriting_guano_replaces_the_chunk_and_keeps_other_fields(wav_factory):
    path = wav_factory(guano={"Make": "Elekon", "TE": 10, "Vendor|Setting": "a: b"})

    write_guano(path, {"TE": 1, "Note": "line one\nline two"})
    write_guano(path, {"Make": None})

    chunk_ids = [c.chunk_id for c in scan_riff_chunks(path)]
    assert chunk_ids.count(b"guan") == 1
    fields = read_guano(path)
    assert fields["TE"] == "1"
    assert fields["Vendor|Setting"] == "a: b"
    assert fields["Note"] == "line one\\nline two"  # the spec's escaped newline
    assert "Make" not in fields
    assert riff_size_matches_file(path)


def test_write_guano_keeps_other_chunks(shared_data, tmp_path):
    # AudioMoth files carry a LIST chunk before the data; it must survive.
    path = tmp_path / "moth.wav"
    path.write_bytes((shared_data / "recordings" / "formats" / "AudiomothNoBatCalls.WAV").read_bytes())

    write_guano(path, {"TE": 1})

    assert [c.chunk_id for c in scan_riff_chunks(path)] == [b"fmt ", b"LIST", b"data", b"guan"]
    assert read_guano(path)["Make"] == "Open Acoustic Devices"


def test_written_guano_is_readable_by_guano_py(wav_factory):
    from guano import GuanoFile

    path = wav_factory()
    write_guano(path, {"TE": 10, "Samplerate": 384000, "Length": 0.1})

    g = GuanoFile(str(path))
    assert g["TE"] == 10 and g["Samplerate"] == 384000
    assert g.to_string().startswith("GUANO|Version: 1.0")


def test_write_guano_refuses_truncated_audio(wav_factory):
    path = wav_factory()
    path.write_bytes(path.read_bytes()[:-100])

    with pytest.raises(TruncatedAudioError):
        write_guano(path, {"TE": 10})


def test_write_guano_refuses_non_wav(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("hello")

    with pytest.raises(NotAudioError):
        write_guano(path, {"TE": 10})


def test_format_guano_puts_version_first_and_pads_to_even_length():
    payload = format_guano({"TE": 10, "GUANO|Version": "1.0", "Make": "X"})

    assert payload.startswith(b"GUANO|Version: 1.0\n")
    assert len(payload) % 2 == 0
    with pytest.raises(ValueError):
        format_guano({"Bad:key": 1})


# --------------------------------------------------------------------------------------------- time stamps


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2012-03-29T03:58:01+04:00", datetime(2012, 3, 29, 3, 58, 1, tzinfo=timezone(timedelta(hours=4)))),
        ("2012-03-29T03:58:01Z", datetime(2012, 3, 29, 3, 58, 1, tzinfo=timezone.utc)),
        ("2022-08-15 21:34:14+0100", datetime(2022, 8, 15, 21, 34, 14, tzinfo=timezone(timedelta(hours=1)))),
        ("2019-01-21T22:14:29", datetime(2019, 1, 21, 22, 14, 29)),
        ("2019-01-21T22:14:29.250", datetime(2019, 1, 21, 22, 14, 29, 250_000)),
        ("2019-01-21T22:14:29-05:00", datetime(2019, 1, 21, 22, 14, 29, tzinfo=US_EASTERN)),
        ("yesterday", None),
        ("", None),
    ],
)
def test_guano_timestamps_are_aware_only_when_they_carry_an_offset(text, expected):
    assert parse_guano_timestamp(text) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("SMU01234_20240612_223105.wav", datetime(2024, 6, 12, 22, 31, 5)),
        ("SM3BAT_0_20240612_223105.wav", datetime(2024, 6, 12, 22, 31, 5)),
        ("SM3BAT_0+1_20240612$223105.wav", datetime(2024, 6, 12, 22, 31, 5)),
        ("Car340319-2015-Pass1-G2-16701_0_20150718_031633_453.wav", datetime(2015, 7, 18, 3, 16, 33, 453000)),
        ("Car370293-2016-Z3-US-16611-0_20160629_213356_166.wav", datetime(2016, 6, 29, 21, 33, 56, 166000)),
        ("20240903_202615.WAV", datetime(2024, 9, 3, 20, 26, 15)),
        ("0166_20240531_223911.wav", datetime(2024, 5, 31, 22, 39, 11)),
        ("GG2018-03-20_19-31-34_062.wav", datetime(2018, 3, 20, 19, 31, 34, 62_000)),
        ("SMART_20240612_223105_123456.wav", datetime(2024, 6, 12, 22, 31, 5, 123_456)),
        ("XC820302-Noctilio_leporinus-2013.01.08-CL00088_A_15.wav", None),
        ("10160435.wav", None),
        ("Mdau_TE384.wav", None),
        ("SM3_20241341_223105.wav", None),  # month 13 is no date
        ("notes.wav", None),
    ],
)
def test_detector_file_names_give_their_local_start_time(name, expected):
    assert timestamp_from_filename(name) == expected


def test_file_name_time_is_used_when_guano_has_none(shared_data):
    folder = shared_data / "recordings" / "labelled-europe" / "tadarida"
    path = next(folder.glob("*_20150718_031633_453.wav"))

    meta = read_metadata(path)

    assert meta.timestamp == datetime(2015, 7, 18, 3, 16, 33, 453_000)
    assert meta.timestamp_source == "filename"
    assert meta.time_expansion is None
    assert meta.true_rate_hz(fallback_te=10) == 384_000
    assert meta.true_sample_rate_hz == 38_400


# --------------------------------------------------------------------------------------------- Batlogger


BATLOGGER_XML = """<BatRecord Model="M">
\t<Firmware>2.3.3</Firmware>
\t<SN>1831</SN>
\t<Filename>18310643.wav</Filename>
\t<DateTime>30.04.2018 20:07:37</DateTime>
\t<Duration>1 Sec</Duration>
\t<Samplerate>312500 Hz</Samplerate>
\t<Temperature>18 C</Temperature>
\t<BattVoltage>4.0 V</BattVoltage>
\t<GPS>
\t\t<Valid>yes</Valid>
\t\t<Position>45.611915 16.408245</Position>
\t\t<Altitude>136.8 m</Altitude>
\t</GPS>
</BatRecord>
"""


def test_batlogger_sidecar_is_read(tmp_path):
    path = tmp_path / "18310643.xml"
    path.write_text(BATLOGGER_XML)

    info = read_batlogger_xml(path)

    assert info is not None
    assert info.timestamp == datetime(2018, 4, 30, 20, 7, 37)
    assert info.sample_rate_hz == 312_500
    assert info.serial == "1831" and info.model == "M" and info.firmware == "2.3.3"
    assert (info.latitude, info.longitude) == (45.611915, 16.408245)
    assert info.altitude_m == 136.8 and info.temperature_c == 18 and info.duration_s == 1
    assert info.time_expansion is None


def test_batlogger_sidecar_beside_a_wav_supplies_time_position_and_serial(wav_factory, tmp_path):
    wav = wav_factory("18310643.wav", sample_rate_hz=312_500)
    (tmp_path / "18310643.xml").write_text(BATLOGGER_XML.replace("</Firmware>", "</Firmware><TE>10</TE>"))

    meta = read_metadata(wav)

    assert meta.timestamp == datetime(2018, 4, 30, 20, 7, 37)
    assert meta.timestamp_source == "batlogger_xml"
    assert meta.serial == "1831" and meta.make == "Elekon"
    assert meta.latitude == pytest.approx(45.611915)
    assert meta.batlogger is not None and meta.batlogger.time_expansion == 10


@pytest.mark.parametrize(
    "content",
    [
        "<BatRecord><DateTime>30.04.2018",  # cut off
        "<OtherRecord><SN>1</SN></OtherRecord>",
        '<!DOCTYPE r [<!ENTITY a "aaaa">]><BatRecord><SN>&a;</SN></BatRecord>',
    ],
)
def test_broken_or_foreign_xml_gives_no_batlogger_info(tmp_path, content):
    path = tmp_path / "x.xml"
    path.write_text(content)

    assert read_batlogger_xml(path) is None


def test_missing_sidecar_gives_none(tmp_path):
    assert read_batlogger_xml(tmp_path / "10160435.wav") is None


def test_read_metadata_raises_audio_errors_for_non_audio(tmp_path):
    path = tmp_path / "a.wav"
    path.write_text("not audio at all, just some text " * 10)

    with pytest.raises(NotAudioError):
        read_metadata(path)


def test_metadata_to_dict_is_json_ready(shared_data):
    import json

    meta = read_metadata(shared_data / "recordings" / "formats" / "Audiomoth.WAV")

    row = json.loads(json.dumps(meta.to_dict()))
    assert row["timestamp"] == "2024-09-03T20:26:15+01:00"
    assert row["guano"]["Make"] == "Open Acoustic Devices"


def test_batlogger_info_appears_in_the_json_form(wav_factory, tmp_path):
    import json

    wav = wav_factory("18310643.wav", sample_rate_hz=312_500)
    (tmp_path / "18310643.xml").write_text(BATLOGGER_XML)

    row = json.loads(json.dumps(read_metadata(wav).to_dict()))

    assert row["batlogger"]["timestamp"] == "2018-04-30T20:07:37"
    assert row["batlogger"]["serial"] == "1831"
