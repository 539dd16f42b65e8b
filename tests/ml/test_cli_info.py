"""`python -m ml info FILE... --json [--time-expansion N]`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from ml.__main__ import main


def run_info(capsys, *args: str) -> tuple[int, list[dict]]:
    code = main(["info", *args])
    out = capsys.readouterr().out
    return code, [json.loads(line) for line in out.splitlines() if line.strip()]


def test_info_prints_one_json_line_per_file_in_true_time(capsys, wav_factory):
    a = wav_factory("a.wav", sample_rate_hz=384_000, duration_s=0.2)
    b = wav_factory("b.wav", sample_rate_hz=38_400, duration_s=1.0, guano={"TE": 10, "Make": "Pettersson"})

    code, rows = run_info(capsys, str(a), str(b), "--json")

    assert code == 0
    assert [r["file"] for r in rows] == [str(a), str(b)]
    assert rows[0]["sample_rate_hz"] == 384_000 and rows[0]["time_expansion"] == 1
    assert rows[0]["duration_s"] == 0.2 and rows[0]["channels"] == 1 and rows[0]["subtype"] == "PCM_16"
    assert rows[1]["header_sample_rate_hz"] == 38_400
    assert rows[1]["time_expansion"] == 10 and rows[1]["sample_rate_hz"] == 384_000
    assert rows[1]["duration_s"] == 0.1
    assert rows[1]["metadata"]["guano"]["Make"] == "Pettersson"


def test_time_expansion_option_applies_where_guano_has_no_te(capsys, wav_factory):
    plain = wav_factory("plain.wav", sample_rate_hz=38_400, duration_s=1.0)
    with_te = wav_factory("te.wav", sample_rate_hz=38_400, duration_s=1.0, guano={"TE": 20})

    code, rows = run_info(capsys, str(plain), str(with_te), "--json", "--time-expansion", "10")

    assert code == 0
    assert rows[0]["time_expansion"] == 10 and rows[0]["sample_rate_hz"] == 384_000
    assert rows[1]["time_expansion"] == 20 and rows[1]["sample_rate_hz"] == 768_000


def test_bad_file_gets_an_error_line_and_exit_code_one_after_the_others(capsys, wav_factory, tmp_path):
    bad = tmp_path / "notes.wav"
    bad.write_text("not audio " * 50)
    good = wav_factory("good.wav")
    missing = tmp_path / "missing.wav"

    code, rows = run_info(capsys, str(bad), str(good), str(missing), "--json")

    assert code == 1
    assert "error" in rows[0] and "notes.wav" in rows[0]["error"]
    assert rows[1]["sample_rate_hz"] == 384_000 and "error" not in rows[1]
    assert "error" in rows[2]


def test_real_guano_file_shows_its_metadata(capsys, shared_data):
    path = shared_data / "recordings" / "guano" / "ANPA-103486.wav"

    code, rows = run_info(capsys, str(path), "--json")

    assert code == 0
    assert rows[0]["metadata"]["species_manual_id"] == "ANPA"
    assert rows[0]["metadata"]["timestamp"] == "2019-08-06T23:07:49"
    assert rows[0]["duration_s"] == 7.004


def test_text_output_without_json_is_one_readable_line(capsys, wav_factory):
    path = wav_factory("a.wav")

    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "384000 Hz" in out and out.count("\n") == 1


def test_python_dash_m_ml_info_runs_as_a_command(wav_factory):
    path = wav_factory("a.wav")
    repo = Path(__file__).resolve().parents[2]

    result = subprocess.run(
        [sys.executable, "-m", "ml", "info", str(path), "--json"], cwd=repo, capture_output=True, text=True
    )

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["header_sample_rate_hz"] == 384_000
