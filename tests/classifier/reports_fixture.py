"""The hand-computed survey the report tests share (tests/classifier/test_reports_*.py, tests/e2e).

Project "Kromme Rijn 2025", site KR01 at the Dom in Utrecht (52.0907 N, 5.1214 E, Europe/Amsterdam).
Sun times from astral 3.2 for that position at sea level (timeanddate.com gives 22:00 / 05:19 for Utrecht):
    night 2025-06-12: sunset 21:59:52.6 +02:00, sunrise (13 June) 05:19:06.3 +02:00
    night 2025-06-25: sunset 22:03:51.9 +02:00
    night 2025-08-20: sunset 20:52:33.9 +02:00, sunrise (21 August) 06:33:40.0 +02:00

Visits of KR01 (the default protocol row is the common pipistrelle's):
    A 2025-06-12 maternity roost, 22:00-02:00 (4 h), 14 °C, 2 Bft, drizzle: every check ok, gap n/a (first)
    B 2025-06-25 maternity roost, 21:30-22:30 (1 h), 9 °C, 5 Bft, rain, 13 days after A: only the season ok
    C 2025-08-20 mating roost, 21:30, no end, no weather: start fails (37 min after sunset, 60 needed),
      duration / temperature / wind unknown, rain ok, gap n/a (first mating visit)
Site KR02 "Amelisweerd" (52.0710 N, 5.1650 E): visit 2025-06-12 flight route.

Recordings (times site-local; calls: species, call type, pass index, start in s):
    R1 KR01/A 22:10:00  model: Pip. pipistrellus + Nyct. noctula, 0.93; not reviewed
         P.pip echo 0.5 / 0.6 + buzz 0.7 (pass 0), N.noc echo 2.0 / 2.3 (pass 1), P.pip echo 4.0 / 4.1 (pass 2)
    R2 KR01/A 01:30:00 (13 June: night 12 June)  model: Pipistrellus sp., 0.55; corrected by anna to
         Pipistrellus pygmaeus (echolocation; social_call)   "Pipistrellus sp." echo 1.0 / 1.2 + P.pip social 1.5
    R3 KR01/A 23:00:00  model: N.noc 0.80; anna: no bat      N.noc echo 0.2 / 0.5 (pass 0)
    R4 KR01/A 23:30:00  model: noise 0.97, no calls; anna: Myotis daubentonii (added: one pass at 23:30:00)
    R5 KR01/A 22:45:00  not analysed
    R6 KR01/B 22:40:00  model: P.pip 0.50                    P.pip echo 0.1 / 0.2 (pass 0)
    R7 KR01/C 23:00:00  model: P.pip 0.90                    P.pip echo 0.1 / 0.2 + social 0.3 (pass 0)
    R8 KR02   22:30:00  model: P.pip 0.88                    P.pip echo 1.0 / 1.5 (pass 0)
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass


from classifier.models import Analysis, AnalysisState, CallDetection, LabelDecision, ModelVersion, Prediction
from surveys.models import Project, Recording, RecordingStatus, Site, Visit
from tests.factories import ProjectFactory, RecordingFactory, SiteFactory, UserFactory, VisitFactory

AMS = zoneinfo.ZoneInfo("Europe/Amsterdam")
PIP = "Pipistrellus pipistrellus"
PYG = "Pipistrellus pygmaeus"
NOC = "Nyctalus noctula"
DAU = "Myotis daubentonii"
PIP_SP = "Pipistrellus sp."

def local(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=AMS)


@dataclass
class Survey:
    project: Project
    site: Site
    other_site: Site
    visit_a: Visit
    visit_b: Visit
    visit_c: Visit
    other_visit: Visit
    recordings: dict[str, Recording]
    model_version: ModelVersion
    expert: object


def _analysed(recording: Recording, model_version: ModelVersion, *, present: list[str], call_types: list[str],
              confidence: float, calls: list[tuple[str, str, int, float]]) -> Prediction:  # fmt: skip
    analysis = Analysis.objects.create(
        recording=recording, model_version=model_version, state=AnalysisState.DONE
    )
    CallDetection.objects.bulk_create(
        CallDetection(
            analysis=analysis,
            start_s=start,
            end_s=start + 0.005,
            low_hz=40_000,
            high_hz=70_000,
            peak_hz=46_000,
            snr_db=20,
            species=species,
            call_type=call_type,
            confidence=0.9,
            pass_index=pass_index,
        )  # fmt: skip
        for species, call_type, pass_index, start in calls
    )
    # totals as classifier.services stores them: every pass, buzz and social call of the analysis
    return Prediction.objects.create(
        analysis=analysis, recording=recording, model_version=model_version, species=present[0],
        species_group=present[0], species_present=present, call_type=call_types[0], call_types=call_types,
        confidence=confidence, n_calls=len(calls), n_passes=len({p for _, _, p, _ in calls if p >= 0}),
        feeding_buzzes=sum(1 for _, t, _, _ in calls if t == "feeding_buzz"),
        social_calls=sum(1 for _, t, _, _ in calls if t == "social_call"),
    )  # fmt: skip


def _recording(visit: Visit, name: str, moment: dt.datetime, sha: str) -> Recording:
    return RecordingFactory(
        visit=visit, original_name=name, recorded_at=moment, duration_s=5.0, sample_rate_hz=384_000,
        header_sample_rate_hz=384_000, time_expansion=1.0, sha256=sha, status=RecordingStatus.INGESTED,
    )  # fmt: skip


def build_survey() -> Survey:
    project = ProjectFactory(name="Kromme Rijn 2025")
    site = SiteFactory(project=project, code="KR01", name="Dom, Utrecht", latitude=52.0907, longitude=5.1214,
                       time_zone="Europe/Amsterdam")  # fmt: skip
    other_site = SiteFactory(
        project=project, code="KR02", name="Amelisweerd", latitude=52.0710, longitude=5.1650
    )
    visit_a = VisitFactory(site=site, night=dt.date(2025, 6, 12), start_time=dt.time(22, 0), end_time=dt.time(2, 0),
                           purpose="maternity_roost", temperature_c=14, wind_beaufort=2, rain="drizzle")  # fmt: skip
    visit_b = VisitFactory(site=site, night=dt.date(2025, 6, 25), start_time=dt.time(21, 30),
                           end_time=dt.time(22, 30), purpose="maternity_roost", temperature_c=9, wind_beaufort=5,
                           rain="rain")  # fmt: skip
    visit_c = VisitFactory(site=site, night=dt.date(2025, 8, 20), start_time=dt.time(21, 30), end_time=None,
                           purpose="mating_roost", temperature_c=None, wind_beaufort=None, rain="none")  # fmt: skip
    other_visit = VisitFactory(site=other_site, night=dt.date(2025, 6, 12), start_time=dt.time(22, 0),
                               end_time=dt.time(0, 0), purpose="flight_route", temperature_c=15, wind_beaufort=1)  # fmt: skip
    model_version = ModelVersion.objects.create(name="bats-v3", file="models/bats-v3.pt", sha256="0" * 64,
                                                is_active=True)  # fmt: skip
    expert = UserFactory(username="anna")

    r = {}
    r["R1"] = _recording(visit_a, "KR01_20250612_221000.wav", local(2025, 6, 12, 22, 10, 0), "1" * 64)
    _analysed(r["R1"], model_version, present=[PIP, NOC], call_types=["echolocation", "feeding_buzz"],
              confidence=0.93, calls=[(PIP, "echolocation", 0, 0.5), (PIP, "echolocation", 0, 0.6),
                                      (PIP, "feeding_buzz", 0, 0.7), (NOC, "echolocation", 1, 2.0),
                                      (NOC, "echolocation", 1, 2.3), (PIP, "echolocation", 2, 4.0),
                                      (PIP, "echolocation", 2, 4.1)])  # fmt: skip
    r["R2"] = _recording(visit_a, "KR01_20250613_013000.wav", local(2025, 6, 13, 1, 30, 0), "2" * 64)
    p2 = _analysed(r["R2"], model_version, present=[PIP_SP], call_types=["echolocation", "social_call"],
                   confidence=0.55, calls=[(PIP_SP, "echolocation", 0, 1.0), (PIP_SP, "echolocation", 0, 1.2),
                                           (PIP, "social_call", 0, 1.5)])  # fmt: skip
    LabelDecision.objects.create(recording=r["R2"], reviewer=expert, prediction=p2, status="corrected",
                                 species_present=[PYG], call_types=["echolocation", "social_call"],
                                 decided_at=dt.datetime(2025, 6, 20, 10, 0, tzinfo=dt.UTC))  # fmt: skip
    r["R3"] = _recording(visit_a, "KR01_20250612_230000.wav", local(2025, 6, 12, 23, 0, 0), "3" * 64)
    p3 = _analysed(r["R3"], model_version, present=[NOC], call_types=["echolocation"], confidence=0.80,
                   calls=[(NOC, "echolocation", 0, 0.2), (NOC, "echolocation", 0, 0.5)])  # fmt: skip
    LabelDecision.objects.create(recording=r["R3"], reviewer=expert, prediction=p3, status="no_bat",
                                 species_present=[], call_types=[],
                                 decided_at=dt.datetime(2025, 6, 20, 10, 5, tzinfo=dt.UTC))  # fmt: skip
    r["R4"] = _recording(visit_a, "KR01_20250612_233000.wav", local(2025, 6, 12, 23, 30, 0), "4" * 64)
    p4 = _analysed(r["R4"], model_version, present=["noise"], call_types=["none"], confidence=0.97, calls=[])
    LabelDecision.objects.create(recording=r["R4"], reviewer=expert, prediction=p4, status="corrected",
                                 species_present=[DAU], call_types=["echolocation"],
                                 decided_at=dt.datetime(2025, 6, 20, 10, 10, tzinfo=dt.UTC))  # fmt: skip
    r["R5"] = _recording(visit_a, "KR01_20250612_224500.wav", local(2025, 6, 12, 22, 45, 0), "5" * 64)
    r["R6"] = _recording(visit_b, "KR01_20250625_224000.wav", local(2025, 6, 25, 22, 40, 0), "6" * 64)
    _analysed(r["R6"], model_version, present=[PIP], call_types=["echolocation"], confidence=0.50,
              calls=[(PIP, "echolocation", 0, 0.1), (PIP, "echolocation", 0, 0.2)])  # fmt: skip
    r["R7"] = _recording(visit_c, "KR01_20250820_230000.wav", local(2025, 8, 20, 23, 0, 0), "7" * 64)
    _analysed(r["R7"], model_version, present=[PIP], call_types=["echolocation", "social_call"], confidence=0.90,
              calls=[(PIP, "echolocation", 0, 0.1), (PIP, "echolocation", 0, 0.2),
                     (PIP, "social_call", 0, 0.3)])  # fmt: skip
    r["R8"] = _recording(other_visit, "KR02_20250612_223000.wav", local(2025, 6, 12, 22, 30, 0), "8" * 64)
    _analysed(r["R8"], model_version, present=[PIP], call_types=["echolocation"], confidence=0.88,
              calls=[(PIP, "echolocation", 0, 1.0), (PIP, "echolocation", 0, 1.5)])  # fmt: skip
    return Survey(project=project, site=site, other_site=other_site, visit_a=visit_a, visit_b=visit_b,
                  visit_c=visit_c, other_visit=other_visit, recordings=r, model_version=model_version,
                  expert=expert)  # fmt: skip
