"""Uploading ZIP archives: checked before anything is unpacked, then one line per entry."""

from __future__ import annotations

import io
import stat
import struct
import zipfile

import pytest
import soundfile as sf

from surveys import uploads
from surveys.models import Recording, RecordingStatus
from surveys.services import recording_ingest, recordings_upload
from tests.surveys.conftest import make_wav, upload_file, upload_path
from tests.surveys.test_uploads import BATLOGGER_XML

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root", "english")]

MB = 1024 * 1024


def _zip(entries: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, content in entries.items():
            archive.writestr(zipfile.ZipInfo(name), content, compress_type=compression)
    return buffer.getvalue()


def _upload_zip(visit, user, content: bytes, name: str = "night.zip"):
    return recordings_upload(visit=visit, user=user, files=[upload_file(name, content)])


def _lines(outcomes) -> list[tuple[str, str]]:
    return [(o.name, o.status) for o in outcomes]


def _set_header_fields(
    content: bytes, *, local: tuple[int, int], central: tuple[int, int], fmt: str
) -> bytes:
    """Overwrite one field (offset in the header, value) in every local and central-directory header."""
    data = bytearray(content)
    for info in zipfile.ZipFile(io.BytesIO(content)).infolist():
        struct.pack_into(fmt, data, info.header_offset + local[0], local[1])
    end = data.rfind(b"PK\x05\x06")
    (count,) = struct.unpack_from("<H", data, end + 10)
    (offset,) = struct.unpack_from("<I", data, end + 16)
    for _ in range(count):
        struct.pack_into(fmt, data, offset + central[0], central[1])
        name_len, extra_len, comment_len = struct.unpack_from("<HHH", data, offset + 28)
        offset += 46 + name_len + extra_len + comment_len
    return bytes(data)


# --------------------------------------------------------------------------------------------- accepted


def test_zip_of_wavs_gives_one_accepted_line_per_entry_named_inside_the_zip(visit, user, stored_files):
    content = _zip(
        {"night1/REC_20250612_231502.wav": make_wav(), "night1/REC_20250612_231610.wav": make_wav()}
    )

    outcomes = _upload_zip(visit, user, content)

    assert _lines(outcomes) == [
        ("night.zip/night1/REC_20250612_231502.wav", "accepted"),
        ("night.zip/night1/REC_20250612_231610.wav", "accepted"),
    ]
    names = set(Recording.objects.values_list("original_name", flat=True))
    assert names == {"night1/REC_20250612_231502.wav", "night1/REC_20250612_231610.wav"}
    assert len(stored_files()) == 2


def test_zip_of_real_recordings_on_disk_is_unpacked_and_ingested(visit, user, tmp_path, shared_recordings):
    folder = shared_recordings / "formats"
    names = sorted(p.name for p in folder.iterdir())
    archive_path = tmp_path / "card.zip"
    with zipfile.ZipFile(archive_path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in names:
            archive.write(folder / name, f"card/{name}")

    outcomes = recordings_upload(visit=visit, user=user, files=[upload_path(archive_path)])
    for outcome in outcomes:
        recording_ingest(recording_id=outcome.recording_id)

    assert _lines(outcomes) == [(f"card.zip/card/{name}", "accepted") for name in names]
    for name in names:
        recording = Recording.objects.get(original_name=f"card/{name}")
        info = sf.info(str(folder / name))
        assert recording.status == RecordingStatus.INGESTED
        assert recording.sample_rate_hz == info.samplerate
        assert recording.duration_s == pytest.approx(info.frames / info.samplerate)


def test_loose_files_and_zips_can_be_uploaded_together(visit, user):
    outcomes = recordings_upload(
        visit=visit,
        user=user,
        files=[upload_file("a.wav", make_wav()), upload_file("b.zip", _zip({"c.wav": make_wav()}))],
    )
    assert _lines(outcomes) == [("a.wav", "accepted"), ("b.zip/c.wav", "accepted")]


def test_macos_litter_and_folders_are_skipped_without_lines(visit, user, assert_nothing_half_saved):
    content = _zip(
        {
            "night/": b"",
            "night/a.wav": make_wav(),
            "__MACOSX/night/._a.wav": b"\x00\x05\x16\x07 resource fork",
            "night/._b.wav": b"\x00\x05\x16\x07",
            "night/.DS_Store": b"\x00\x00\x00\x01Bud1",
        }
    )

    outcomes = _upload_zip(visit, user, content)

    assert _lines(outcomes) == [("night.zip/night/a.wav", "accepted")]
    assert_nothing_half_saved()


def test_non_wav_entries_each_get_their_own_rejection_line(visit, user):
    content = _zip({"a.wav": make_wav(), "log.txt": b"battery 4.1 V", "b.wac": b"WAac\x00\x00"})

    outcomes = _upload_zip(visit, user, content)

    by_name = {o.name: o for o in outcomes}
    assert by_name["night.zip/a.wav"].status == "accepted"
    assert by_name["night.zip/log.txt"].status == "rejected"
    assert "not a WAV file" in by_name["night.zip/log.txt"].message
    assert by_name["night.zip/b.wac"].status == "rejected"
    assert "Wildlife Acoustics" in by_name["night.zip/b.wac"].message
    assert "WAV" in by_name["night.zip/b.wac"].message


def test_bad_wav_inside_a_zip_is_rejected_and_the_rest_kept(visit, user, assert_nothing_half_saved):
    good = make_wav(duration_s=0.2)
    content = _zip({"good.wav": good, "cut.wav": good[: len(good) // 2], "text.wav": b"hello" * 100})

    outcomes = _upload_zip(visit, user, content)

    assert _lines(outcomes) == [
        ("night.zip/good.wav", "accepted"),
        ("night.zip/cut.wav", "rejected"),
        ("night.zip/text.wav", "rejected"),
    ]
    assert "truncated" in outcomes[1].message
    assert "not a WAV file" in outcomes[2].message
    assert_nothing_half_saved()


def test_duplicate_entries_are_reported(visit, user):
    content = make_wav()
    recordings_upload(visit=visit, user=user, files=[upload_file("first.wav", content)])

    outcomes = _upload_zip(visit, user, _zip({"again.wav": content}))

    assert _lines(outcomes) == [("night.zip/again.wav", "duplicate")]
    assert "first.wav" in outcomes[0].message


def test_batlogger_sidecar_inside_the_zip_is_stored_with_its_wav(visit, user):
    content = _zip(
        {"bl/10160435.wav": make_wav(), "bl/10160435.xml": BATLOGGER_XML, "bl/other.wav": make_wav()}
    )

    outcomes = _upload_zip(visit, user, content)

    by_name = {o.name: o for o in outcomes}
    assert by_name["night.zip/bl/10160435.xml"].status == "accepted"
    with_sidecar = Recording.objects.get(original_name="bl/10160435.wav")
    assert "<BatRecord" in with_sidecar.sidecar_xml
    assert Recording.objects.get(original_name="bl/other.wav").sidecar_xml == ""
    assert Recording.objects.count() == 2


# -------------------------------------------------------------------------------------- whole archive refused


def test_zip_bomb_declaring_a_huge_total_is_refused_before_unpacking(
    visit, user, settings, assert_nothing_half_saved
):
    settings.ZIP_MAX_TOTAL_MB = 16
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("first.wav", make_wav())
        with archive.open("bomb.wav", "w") as entry:  # 64 MB of silence squeezes to about 64 kB
            entry.write(b"RIFF\xff\xff\xff\xffWAVE")
            for _ in range(64):
                entry.write(bytes(MB))
    content = buffer.getvalue()
    assert len(content) < MB

    outcomes = _upload_zip(visit, user, content)

    assert _lines(outcomes) == [("night.zip", "rejected")]
    assert "16 MB" in outcomes[0].message
    assert Recording.objects.count() == 0
    assert_nothing_half_saved()


def test_zip_bomb_of_many_entries_is_refused_by_the_total_not_by_a_ratio(visit, user, settings):
    settings.ZIP_MAX_TOTAL_MB = 8
    content = _zip({f"silence{i}.wav": bytes(MB) for i in range(10)})

    outcomes = _upload_zip(visit, user, content)

    assert _lines(outcomes) == [("night.zip", "rejected")]
    assert "8 MB" in outcomes[0].message


def test_quiet_night_that_compresses_extremely_well_is_still_accepted(visit, user, settings):
    settings.ZIP_MAX_TOTAL_MB = 64
    silent = make_wav(sample_rate_hz=384_000, duration_s=10.0, seed=1)
    silent = silent[:44] + bytes(len(silent) - 44)  # a real header, then digital silence
    content = _zip({"quiet.wav": silent})
    assert len(silent) / len(content) > 200

    outcomes = _upload_zip(visit, user, content)

    assert _lines(outcomes) == [("night.zip/quiet.wav", "accepted")]


def test_entry_whose_declared_size_lies_is_cut_at_the_declared_size_and_rejected(
    visit, user, settings, stored_files, assert_nothing_half_saved
):
    settings.ZIP_MAX_TOTAL_MB = 1
    real = make_wav(sample_rate_hz=250_000, duration_s=6.0)  # 3 MB that say they are 4 kB
    assert len(real) > 2 * MB
    content = _zip({"liar.wav": real})
    content = _set_header_fields(content, local=(22, 4096), central=(24, 4096), fmt="<I")

    outcomes = _upload_zip(visit, user, content)

    assert _lines(outcomes) == [("night.zip/liar.wav", "rejected")]
    assert "damaged" in outcomes[0].message
    assert stored_files() == set()
    assert_nothing_half_saved()


def test_unpacking_stops_at_the_total_limit_even_when_sizes_are_not_declared_honestly():
    class LyingArchive:
        """Hands out more bytes than any declared size, as a broken or hostile archive reader could."""

        def open(self, info):
            return io.BytesIO(bytes(5 * MB))

    entry = uploads.ZipEntry(info=zipfile.ZipInfo("a.wav"), path="a.wav")
    budget = uploads.ZipBudget(archive_name="night.zip", limit_bytes=2 * MB)
    received = 0

    with pytest.raises(uploads.ZipRefused, match="more than 2 MB"):
        for chunk in uploads.entry_chunks(LyingArchive(), entry, budget):
            received += len(chunk)

    assert received <= 2 * MB


def test_total_limit_stop_refuses_the_rest_of_the_zip_and_keeps_what_was_stored(
    visit, user, settings, monkeypatch, assert_nothing_half_saved
):
    content = _zip(
        {"a.wav": make_wav(duration_s=1.0), "b.wav": make_wav(duration_s=1.0), "c.wav": make_wav()}
    )
    # Central directory says 1.5 MB in all, under the limit; pretend the bytes ran past it at b.wav.
    settings.ZIP_MAX_TOTAL_MB = 1
    monkeypatch.setattr(
        uploads,
        "inspect_zip",
        lambda archive, name: [uploads.ZipEntry(info=i, path=i.filename) for i in archive.infolist()],
    )

    outcomes = _upload_zip(visit, user, content)

    assert _lines(outcomes) == [
        ("night.zip/a.wav", "accepted"),
        ("night.zip/b.wav", "rejected"),
        ("night.zip", "rejected"),
    ]
    assert "Unpacking stopped" in outcomes[-1].message
    assert Recording.objects.count() == 1
    assert_nothing_half_saved()


def test_too_many_entries_refuse_the_whole_zip(visit, user, settings, assert_nothing_half_saved):
    settings.ZIP_MAX_ENTRIES = 3
    content = _zip({f"r{i}.wav": make_wav() for i in range(4)})

    outcomes = _upload_zip(visit, user, content)

    assert _lines(outcomes) == [("night.zip", "rejected")]
    assert "4 entries" in outcomes[0].message and "3" in outcomes[0].message
    assert_nothing_half_saved()


@pytest.mark.parametrize(
    "evil_name", ["../evil.wav", "night/../../evil.wav", "/etc/evil.wav", "C:/evil.wav", "..\\evil.wav"]
)
def test_traversal_and_absolute_names_refuse_the_whole_zip(visit, user, evil_name, assert_nothing_half_saved):
    content = _zip({"good.wav": make_wav(), evil_name: make_wav()})

    outcomes = _upload_zip(visit, user, content)

    assert _lines(outcomes) == [("night.zip", "rejected")]
    assert evil_name in outcomes[0].message
    assert Recording.objects.count() == 0
    assert_nothing_half_saved()


def test_symlink_entries_refuse_the_whole_zip(visit, user, assert_nothing_half_saved):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("good.wav", make_wav())
        link = zipfile.ZipInfo("link.wav")
        link.create_system = 3  # Unix: the high 16 bits of external_attr are the file mode
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, "/etc/passwd")

    outcomes = _upload_zip(visit, user, buffer.getvalue())

    assert _lines(outcomes) == [("night.zip", "rejected")]
    assert "symbolic links" in outcomes[0].message and "link.wav" in outcomes[0].message
    assert_nothing_half_saved()


def test_not_a_zip_is_refused(visit, user):
    outcomes = _upload_zip(visit, user, b"this is not an archive at all" * 50)
    assert _lines(outcomes) == [("night.zip", "rejected")]
    assert "not a readable ZIP" in outcomes[0].message


def test_truncated_zip_is_refused(visit, user, assert_nothing_half_saved):
    content = _zip({"a.wav": make_wav(), "b.wav": make_wav()})

    outcomes = _upload_zip(visit, user, content[: len(content) * 2 // 3])

    assert _lines(outcomes) == [("night.zip", "rejected")]
    assert "not a readable ZIP" in outcomes[0].message
    assert_nothing_half_saved()


def test_zip_over_max_upload_mb_is_refused(visit, user, settings):
    settings.MAX_UPLOAD_MB = 1
    content = _zip(
        {"a.wav": make_wav(sample_rate_hz=250_000, duration_s=3.0)}, compression=zipfile.ZIP_STORED
    )

    outcomes = _upload_zip(visit, user, content)

    assert _lines(outcomes) == [("night.zip", "rejected")]
    assert "1 MB" in outcomes[0].message


# -------------------------------------------------------------------------------------------- entries refused


def test_nested_archives_are_not_unpacked(visit, user, assert_nothing_half_saved):
    inner = _zip({"deep.wav": make_wav()})
    content = _zip({"a.wav": make_wav(), "inner.zip": inner, "more.7z": b"7z\xbc\xaf\x27\x1c"})

    outcomes = _upload_zip(visit, user, content)

    assert _lines(outcomes) == [
        ("night.zip/a.wav", "accepted"),
        ("night.zip/inner.zip", "rejected"),
        ("night.zip/more.7z", "rejected"),
    ]
    assert "nested archives" in outcomes[1].message
    assert Recording.objects.count() == 1
    assert_nothing_half_saved()


def test_zip_renamed_to_wav_inside_a_zip_is_rejected(visit, user):
    outcomes = _upload_zip(visit, user, _zip({"sneaky.wav": _zip({"deep.wav": make_wav()})}))
    assert _lines(outcomes) == [("night.zip/sneaky.wav", "rejected")]
    assert "ZIP archive" in outcomes[0].message


def test_encrypted_entries_are_rejected_with_a_clear_message(visit, user, assert_nothing_half_saved):
    content = _zip({"secret.wav": make_wav()}, compression=zipfile.ZIP_STORED)
    # Python cannot write encrypted ZIPs; set the "encrypted" flag bit as a password tool would.
    content = _set_header_fields(content, local=(6, 0x1), central=(8, 0x1), fmt="<H")

    outcomes = _upload_zip(visit, user, content)

    assert _lines(outcomes) == [("night.zip/secret.wav", "rejected")]
    assert "password" in outcomes[0].message
    assert_nothing_half_saved()


def test_entry_with_damaged_data_is_rejected(visit, user, assert_nothing_half_saved):
    wav = make_wav(duration_s=0.2)
    content = bytearray(_zip({"a.wav": wav}, compression=zipfile.ZIP_STORED))
    content[content.find(b"data") + 200] ^= 0xFF  # flip a byte of audio: the CRC no longer matches

    outcomes = _upload_zip(visit, user, bytes(content))

    assert _lines(outcomes) == [("night.zip/a.wav", "rejected")]
    assert "damaged" in outcomes[0].message
    assert_nothing_half_saved()


def test_entry_over_max_upload_mb_is_rejected_and_the_rest_kept(visit, user, settings):
    settings.MAX_UPLOAD_MB = 1
    long = make_wav(sample_rate_hz=250_000, duration_s=3.0)
    long = long[:44] + bytes(len(long) - 44)  # silence: the ZIP stays small, the entry does not
    content = _zip({"small.wav": make_wav(), "long.wav": long})
    assert len(content) < MB

    outcomes = _upload_zip(visit, user, content)

    assert _lines(outcomes) == [("night.zip/small.wav", "accepted"), ("night.zip/long.wav", "rejected")]
    assert "1 MB" in outcomes[1].message
