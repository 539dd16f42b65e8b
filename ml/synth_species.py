"""Call parameters per class of the default label set, as data: what `ml.synth` draws bat calls from.

Every number comes from ../shared/domain/bats.md section 4 (4.1 table and notes, 4.2 recipe, 4.3 feeding buzz,
4.4 social calls), whose own sources are the LfU Bayern call-analysis guide (Marckmann & Pfeiffer, "LfU"),
the Durham Bat Group table ("Durham"), Vaughan et al. 1997, Van De Sijpe 2011, the Somerset key, Götze et al.
2020 and bat-sound-database.com. Numbers that bats.md itself marks [guess] are marked [guess] here too; a
number this module adds where bats.md gives only a shape is marked [ours] with its reason.

Two kinds of range per class:
- `literature`: the ranges as bats.md prints them (a single value "~90" becomes (90, 90)); the realism test
  checks the generator's medians against them.
- the drawing ranges of each `CallVariant`: where bats.md gives a wide or several overlapping ranges, the
  part the generator draws from, chosen inside the literature and, where labelled-europe has enough real
  calls, towards the measured real values (docs/synth-realism.md). Each individual bat draws its own preferred
  value once from these ranges (between-individual spread); each call then varies around it (bats.md 4.2).

Pair classes use the pair's row (P. nathusii/kuhlii: the P. nathusii row, whose LfU Fc covers P. kuhlii too;
M. mystacinus/brandtii and Plecotus auritus/austriacus: the lumped rows). Species without a row of their own
in bats.md (M. bechsteinii, M. emarginatus, M. myotis, M. alcathoe, E. nilssonii) have no parameters here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "BUZZ",
    "SPECIES_PARAMETERS",
    "BuzzParameters",
    "CallVariant",
    "LiteratureRanges",
    "SocialCallParameters",
    "SpeciesParameters",
    "absorption_db_per_m",
    "parameters_for",
]

Range = tuple[float, float]
Shape = Literal["fm", "fm_qcf", "qcf", "cf_fm"]
Alternation = Literal["random", "alternate", "individual"]


@dataclass(frozen=True)
class CallVariant:
    """One echolocation call type of a species (e.g. the QCF "chop" of a noctule, Myotis short calls).

    Frequencies are of the reference harmonic (the fundamental, or H2 for Rhinolophus), in kHz as bats.md
    gives them. Shapes (bats.md 4.2): `fm` hyperbolic downsweep start -> end with most energy at `peak_khz`;
    `fm_qcf` steep sweep, then an exponential approach to a shallow QCF tail around `peak_khz` (hockey stick);
    `qcf` nearly flat around `peak_khz` after a short FM start; `cf_fm` short upward FM into a constant
    frequency at `peak_khz`, then a terminal downward FM to `end_khz`.
    """

    name: str
    shape: Shape
    peak_khz: Range  # FmaxE: QCF/CF frequency for fm_qcf/qcf/cf_fm, knee/max-energy "fmk" for fm
    duration_ms: Range
    start_khz: Range | None = None  # None for qcf/cf_fm: a few kHz from the QCF/CF (see synth)
    end_khz: Range | None = None  # fm and cf_fm only; fm_qcf/qcf end on their QCF glide
    weight: float = 1.0  # share of calls (or of individuals, for alternation "individual")


@dataclass(frozen=True)
class SocialCallParameters:
    """Social calls (bats.md 4.4): multi-syllable FM or V-shaped calls with harmonics."""

    syllables: tuple[int, int]  # components per call (inclusive)
    syllable_shape: Literal["fm", "v"]  # downsweep, or down-and-up "V"
    start_khz: Range  # first frequency of each syllable's fundamental
    end_khz: Range  # terminal (fm) or lowest (v) frequency
    total_ms: Range  # whole call, all syllables
    harmonics: tuple[tuple[int, float], ...]  # (order, level dB re fundamental)
    # Spacing: P. pipistrellus sings between runs of echolocation calls; the others in bouts every 0.5-3 s.
    echolocation_calls_between: tuple[int, int] | None = None
    interval_s: Range | None = None
    source: str = ""


@dataclass(frozen=True)
class LiteratureRanges:
    """Search-phase values as bats.md 4.1 prints them, for the realism check."""

    peak_khz: Range
    duration_ms: Range
    ipi_ms: Range
    note: str = ""


@dataclass(frozen=True)
class SpeciesParameters:
    label: str  # class of the default label set
    variants: tuple[CallVariant, ...]
    alternation: Alternation  # how consecutive calls pick a variant
    ipi_ms: Range  # search-phase inter-pulse interval
    harmonics: tuple[tuple[int, float], ...]  # (order, level dB re the reference harmonic)
    reference_harmonic: int  # which harmonic the variant frequencies describe (2 for Rhinolophus)
    detection_distance_m: float  # bats.md 4.1 last column [guess, after Barataud]; sets the source level
    literature: LiteratureRanges
    feeding_buzz: bool  # vespertilionid buzz of bats.md 4.3
    social: SocialCallParameters | None
    source: str


@dataclass(frozen=True)
class BuzzParameters:
    """Approach and terminal buzz of vespertilionids (bats.md 4.3 [2nd + guess])."""

    approach_calls: tuple[int, int]  # calls while IPI falls from search to ~15 ms [ours: 4-8 calls]
    approach_end_ipi_ms: float  # 15 ms (Kalko & Schnitzler 1989, from memory [guess])
    buzz1_calls: tuple[int, int]  # buzz I [ours: 4-8 calls so that the buzz totals 15-40 calls]
    buzz1_ipi_ms: Range  # 10-12 ms
    buzz1_duration_ms: Range  # 1-2 ms
    buzz2_calls: tuple[int, int]  # buzz II [ours: 12-30 calls]
    buzz2_ipi_ms: Range  # 5-6 ms (about 200 calls/s)
    buzz2_duration_ms: Range  # 0.3-0.7 ms
    buzz2_frequency_factor: Range  # Fc ~10 kHz lower for pipistrelles (45 -> 35 kHz): x0.75-0.8
    level_drop_db: Range  # amplitude falls 10-20 dB towards the end
    pause_ms: Range  # 100-200 ms pause before search calls resume


BUZZ = BuzzParameters(
    approach_calls=(4, 8),
    approach_end_ipi_ms=15.0,
    buzz1_calls=(4, 8),
    buzz1_ipi_ms=(10.0, 12.0),
    buzz1_duration_ms=(1.0, 2.0),
    buzz2_calls=(12, 30),
    buzz2_ipi_ms=(5.0, 6.0),
    buzz2_duration_ms=(0.3, 0.7),
    buzz2_frequency_factor=(0.75, 0.8),
    level_drop_db=(10.0, 20.0),
    pause_ms=(100.0, 200.0),
)

# Atmospheric absorption (bats.md 4.2 [guess, ISO 9613-1 order of magnitude]): 0.5 dB/m at 20 kHz, 1.3 at
# 40 kHz, 2-3 at 80-100 kHz; 0 at 0 Hz and a gentle rise above 100 kHz are [ours], to cover the band.
_ABSORPTION_KHZ = (0.0, 20.0, 40.0, 90.0, 150.0, 250.0)
_ABSORPTION_DB_PER_M = (0.0, 0.5, 1.3, 2.5, 3.5, 4.5)


def absorption_db_per_m(frequency_khz: float) -> float:
    """Atmospheric absorption in dB per metre at one frequency (piecewise linear in the bats.md values)."""
    points = list(zip(_ABSORPTION_KHZ, _ABSORPTION_DB_PER_M, strict=False))
    for (f0, a0), (f1, a1) in zip(points, points[1:], strict=False):
        if frequency_khz <= f1:
            return a0 + (a1 - a0) * (max(frequency_khz, f0) - f0) / (f1 - f0)
    return _ABSORPTION_DB_PER_M[-1]


# Harmonic levels, bats.md 4.2: H2 at -15...-25 dB for vespertilionids ("H2 weak"/"faint": -20/-25), "often
# visible" for the serotine (-12, [ours]: the loud end of that band plus a little); Plecotus H1 and H2 both
# strong (0 dB); horseshoes H2 dominant, H1 -20 dB. H3 of horseshoes at -25 dB is [ours].
_H2_WEAK = ((1, 0.0), (2, -20.0))
_H2_FAINT = ((1, 0.0), (2, -25.0))

# Social-call spacing for species other than P. pipistrellus: "repeated in bouts every 0.5-3 s" [guess].
_BOUT_INTERVAL_S = (0.5, 3.0)

SPECIES_PARAMETERS: Mapping[str, SpeciesParameters] = {
    p.label: p
    for p in (
        SpeciesParameters(
            label="Pipistrellus pipistrellus",
            variants=(
                # FM-QCF: start ~55-70, Fc 42-54 (LfU), FmaxE 42-48 (Somerset), 48 (Durham); labelled-europe
                # measures 47.9 kHz, so the QCF is drawn around Durham's 48 (45-49.5, inside LfU's Fc).
                CallVariant(
                    "fm_qcf",
                    "fm_qcf",
                    peak_khz=(45.0, 49.5),
                    duration_ms=(4.0, 8.0),
                    start_khz=(55.0, 70.0),
                    weight=0.7,
                ),
                # QCF in the open: Fc 40-50, 5-10 ms (LfU).
                CallVariant("qcf", "qcf", peak_khz=(44.0, 48.0), duration_ms=(5.0, 10.0), weight=0.3),
            ),
            alternation="individual",  # open-air QCF or edge FM-QCF depends on where the bat flies
            ipi_ms=(85.0, 105.0),  # ~90 (11/s, Durham); 90-165 [2nd]
            harmonics=_H2_WEAK,  # H2 weak [guess]
            reference_harmonic=1,
            detection_distance_m=27.0,  # 25-30
            literature=LiteratureRanges(peak_khz=(42.0, 48.0), duration_ms=(3.0, 10.0), ipi_ms=(90.0, 165.0)),
            feeding_buzz=True,
            social=SocialCallParameters(
                syllables=(3, 5),  # Götze et al. 2020: 3-5 multiharmonic FM syllables
                syllable_shape="fm",
                start_khz=(30.0, 40.0),  # [ours]: bats.md gives only the terminal frequency
                end_khz=(15.2, 16.8),  # terminal 16.0 +- 0.8 kHz
                total_ms=(21.1, 28.9),  # 25.0 +- 3.9 ms
                harmonics=((1, 0.0), (2, -6.0), (3, -12.0)),  # "multiharmonic"; levels [ours]
                echolocation_calls_between=(2, 83),  # 2-83 echolocation calls between social calls
                source="bats.md 4.4, Götze, Denzinger & Schnitzler 2020 (type D song)",
            ),
            source="bats.md 4.1 (LfU, Durham, Somerset, Raleigh Park [2nd]), 4.4",
        ),
        SpeciesParameters(
            label="Pipistrellus pygmaeus",
            variants=(
                # Vaughan 1997: max 64.7, min 54.1, FmaxE 55.5 kHz, 5.7 ms; Durham 65>54, peak 55-56;
                # LfU Fc 51-64 FM-QCF, 50-56 QCF, QCF 5-8 ms.
                CallVariant(
                    "fm_qcf",
                    "fm_qcf",
                    peak_khz=(54.0, 57.0),
                    duration_ms=(4.5, 7.5),
                    start_khz=(60.0, 68.0),
                    weight=0.7,
                ),
                CallVariant("qcf", "qcf", peak_khz=(53.0, 56.0), duration_ms=(5.0, 8.0), weight=0.3),
            ),
            alternation="individual",
            ipi_ms=(75.0, 90.0),  # 81.0 ms (Vaughan); 12/s (Durham)
            harmonics=_H2_WEAK,
            reference_harmonic=1,
            detection_distance_m=25.0,
            literature=LiteratureRanges(peak_khz=(55.0, 55.5), duration_ms=(5.0, 8.0), ipi_ms=(81.0, 81.0)),
            feeding_buzz=True,
            social=SocialCallParameters(
                syllables=(2, 3),  # "fewer components (usually 2-3)" [guess]
                syllable_shape="fm",
                start_khz=(35.0, 45.0),  # [ours]
                end_khz=(20.0, 25.0),  # "higher fundamental (~20-25 kHz)" [guess]
                total_ms=(15.0, 30.0),  # inside the generic 10-60 ms [guess]
                harmonics=((1, 0.0), (2, -6.0), (3, -12.0)),
                interval_s=_BOUT_INTERVAL_S,
                source="bats.md 4.4 (Barlow & Jones 1997 recollection [guess])",
            ),
            source="bats.md 4.1 (Vaughan et al. 1997, Durham, LfU)",
        ),
        SpeciesParameters(
            label="Pipistrellus nathusii/kuhlii",
            variants=(
                # P. nathusii row: start ~49-55; Fc 35-41 QCF (LfU, with P. kuhlii); FmaxE 38-42 (39
                # Durham, 42.2 Lynx 2003; P. kuhlii mean 40.2); labelled-europe P. kuhlii measures 37.2 kHz,
                # so the QCF is drawn from the low part of the Fc range.
                CallVariant(
                    "fm_qcf",
                    "fm_qcf",
                    peak_khz=(36.5, 40.0),
                    duration_ms=(5.0, 10.0),
                    start_khz=(49.0, 55.0),
                    weight=0.6,
                ),
                CallVariant("qcf", "qcf", peak_khz=(35.5, 39.0), duration_ms=(6.0, 11.0), weight=0.4),
            ),
            alternation="individual",
            ipi_ms=(90.0, 110.0),  # ~100 (10/s, Durham)
            harmonics=_H2_WEAK,
            reference_harmonic=1,
            detection_distance_m=27.0,
            literature=LiteratureRanges(
                peak_khz=(38.0, 42.0), duration_ms=(5.0, 10.0), ipi_ms=(100.0, 100.0)
            ),
            feeding_buzz=True,
            social=SocialCallParameters(
                syllables=(2, 6),  # part A: repeated V-shaped components, number varies
                syllable_shape="v",
                start_khz=(30.0, 40.0),  # "mostly ~12-40 kHz" [guess]
                end_khz=(12.0, 20.0),
                total_ms=(20.0, 60.0),  # generic 10-60 ms [guess]
                harmonics=((1, 0.0), (2, -8.0), (3, -14.0)),
                interval_s=_BOUT_INTERVAL_S,
                source="bats.md 4.4 (bat-sound-database: Jahelková 2011, Hargreaves 2017, Middleton 2020)",
            ),
            source="bats.md 4.1 (LfU, Durham, Lynx 34:13), 3.1",
        ),
        SpeciesParameters(
            label="Nyctalus noctula",
            variants=(
                # "chop": QCF Fc 17-22 [16-23], 15-30 ms; "chip": FM-QCF Fc 20-29, 6-20 ms, start ~25-45
                # [guess]; FmaxE ~19-20 (Durham 19). The chip's QCF is drawn from the low part of 20-29 so the
                # alternation's median stays near the noctule's FmaxE.
                CallVariant("chop", "qcf", peak_khz=(17.0, 21.0), duration_ms=(15.0, 30.0)),
                CallVariant(
                    "chip", "fm_qcf", peak_khz=(20.0, 23.0), duration_ms=(6.0, 15.0), start_khz=(25.0, 45.0)
                ),
            ),
            alternation="alternate",
            ipi_ms=(280.0, 380.0),  # ~330 (3/s); alternating 250-450 [guess]
            harmonics=_H2_FAINT,
            reference_harmonic=1,
            detection_distance_m=100.0,
            literature=LiteratureRanges(
                peak_khz=(19.0, 20.0), duration_ms=(6.0, 30.0), ipi_ms=(250.0, 450.0)
            ),
            feeding_buzz=True,
            social=SocialCallParameters(
                syllables=(2, 6),  # slow trills of V-shaped/FM components
                syllable_shape="v",
                start_khz=(20.0, 25.0),  # many components < 20 kHz; band 12-25 kHz [guess]
                end_khz=(12.0, 16.0),
                total_ms=(20.0, 60.0),
                harmonics=((1, 0.0), (2, -6.0), (3, -12.0), (4, -18.0)),  # 2-4 harmonics [guess]
                interval_s=_BOUT_INTERVAL_S,
                source="bats.md 4.4 (Weid 1994 via bat-sound-database; generic recipe [guess])",
            ),
            source="bats.md 4.1 (LfU, Durham)",
        ),
        SpeciesParameters(
            label="Nyctalus leisleri",
            variants=(
                # QCF Fc 21-26, 8-20 ms [6-20]; FM-QCF Fc 25-29, start ~31-40, "FM 3-5" ms ("click-clock").
                CallVariant("qcf", "qcf", peak_khz=(21.0, 26.0), duration_ms=(8.0, 20.0)),
                CallVariant(
                    "fm_qcf", "fm_qcf", peak_khz=(25.0, 29.0), duration_ms=(3.0, 5.0), start_khz=(31.0, 40.0)
                ),
            ),
            alternation="alternate",
            ipi_ms=(180.0, 220.0),  # ~200 (5/s, Durham)
            harmonics=_H2_FAINT,
            reference_harmonic=1,
            detection_distance_m=80.0,
            literature=LiteratureRanges(
                peak_khz=(25.0, 29.0), duration_ms=(3.0, 20.0), ipi_ms=(200.0, 200.0)
            ),
            feeding_buzz=True,
            social=SocialCallParameters(
                syllables=(1, 3),  # C.d1 advertisement: "shorter and more descending than noctule's"
                syllable_shape="fm",
                start_khz=(22.0, 28.0),  # [guess] band of the generic recipe
                end_khz=(12.0, 16.0),
                total_ms=(10.0, 30.0),
                harmonics=((1, 0.0), (2, -6.0), (3, -12.0)),
                interval_s=_BOUT_INTERVAL_S,
                source="bats.md 4.4 (Middleton et al. 2022 via bat-sound-database; generic recipe [guess])",
            ),
            source="bats.md 4.1 (LfU, Durham, bat-sound-database)",
        ),
        SpeciesParameters(
            label="Eptesicus serotinus",
            variants=(
                # FM-QCF: broad FM start ~50-55 (Durham 55>25), Fc 22-31, 4-16 ms; QCF: Fc 21-25, 10-16 ms;
                # FM near clutter: 26-34 kHz. FmaxE ~27-28; labelled-europe measures 33 kHz (many FM calls).
                CallVariant(
                    "fm_qcf",
                    "fm_qcf",
                    peak_khz=(26.0, 31.0),
                    duration_ms=(5.0, 14.0),
                    start_khz=(45.0, 55.0),
                    weight=0.6,
                ),
                CallVariant("qcf", "qcf", peak_khz=(22.0, 25.0), duration_ms=(10.0, 16.0), weight=0.15),
                CallVariant(
                    "fm",
                    "fm",
                    peak_khz=(28.0, 34.0),
                    duration_ms=(3.0, 6.0),
                    start_khz=(45.0, 55.0),
                    end_khz=(24.0, 27.0),
                    weight=0.25,
                ),
            ),
            alternation="random",
            ipi_ms=(100.0, 135.0),  # ~110 (9/s), irregular; labelled-europe measures 187 ms
            harmonics=((1, 0.0), (2, -12.0)),  # H2 often visible
            reference_harmonic=1,
            detection_distance_m=40.0,
            literature=LiteratureRanges(
                peak_khz=(27.0, 28.0), duration_ms=(4.0, 16.0), ipi_ms=(110.0, 110.0)
            ),
            feeding_buzz=True,
            social=None,  # bats.md 4.4 has no serotine social calls
            source="bats.md 4.1 (LfU, Durham)",
        ),
        SpeciesParameters(
            label="Vespertilio murinus",
            variants=(
                # QCF Fc 21-25, 12-26 ms [10-30]; FM-QCF Fc 23-30, 4-14 ms; start ~30-40 [guess];
                # FmaxE ~23-25 [guess].
                CallVariant("qcf", "qcf", peak_khz=(21.0, 25.0), duration_ms=(12.0, 26.0), weight=0.5),
                CallVariant(
                    "fm_qcf",
                    "fm_qcf",
                    peak_khz=(23.0, 27.0),
                    duration_ms=(4.0, 14.0),
                    start_khz=(30.0, 40.0),
                    weight=0.5,
                ),
            ),
            alternation="random",
            ipi_ms=(200.0, 300.0),  # ~200-300 [guess]
            harmonics=_H2_FAINT,
            reference_harmonic=1,
            detection_distance_m=50.0,
            literature=LiteratureRanges(
                peak_khz=(23.0, 25.0),
                duration_ms=(4.0, 26.0),
                ipi_ms=(200.0, 300.0),
                note="peak and IPI are [guess] in bats.md",
            ),
            feeding_buzz=True,
            social=None,  # none in bats.md 4.4
            source="bats.md 4.1 (LfU; [guess] where marked)",
        ),
        SpeciesParameters(
            label="Myotis daubentonii",
            variants=(
                # Steep FM; start 82-100 short [73-101] (LfU), end 25-32 [22-36]; fmk 40-46 (LfU); medians 49
                # (1-4 ms) / 37 (8-14 ms) (Van De Sijpe); peak 50 (Durham). Durations 1.5-3.5 / 3.5-6 / 6-8.
                # Variant shares are [ours]: short calls dominate in open flight over water.
                CallVariant(
                    "short",
                    "fm",
                    peak_khz=(43.0, 49.0),
                    duration_ms=(1.5, 3.5),
                    start_khz=(82.0, 100.0),
                    end_khz=(25.0, 32.0),
                    weight=0.5,
                ),
                CallVariant(
                    "medium",
                    "fm",
                    peak_khz=(40.0, 46.0),
                    duration_ms=(3.5, 6.0),
                    start_khz=(73.0, 101.0),
                    end_khz=(25.0, 32.0),
                    weight=0.35,
                ),
                CallVariant(
                    "long",
                    "fm",
                    peak_khz=(37.0, 42.0),
                    duration_ms=(6.0, 8.0),
                    start_khz=(73.0, 90.0),
                    end_khz=(25.0, 32.0),
                    weight=0.15,
                ),
            ),
            alternation="random",
            ipi_ms=(60.0, 80.0),  # ~70 (14/s, Durham)
            harmonics=_H2_WEAK,
            reference_harmonic=1,
            detection_distance_m=15.0,
            literature=LiteratureRanges(
                peak_khz=(37.0, 50.0),
                duration_ms=(1.5, 8.0),
                ipi_ms=(70.0, 70.0),
                note="peak: union of LfU fmk 40-46, Van De Sijpe 37/49, Durham 50",
            ),
            feeding_buzz=True,
            social=None,
            source="bats.md 4.1 (LfU part 2, Van De Sijpe 2011, Durham)",
        ),
        SpeciesParameters(
            label="Myotis dasycneme",
            variants=(
                # Short FM start 75-90; extra-long FM-QCF over water start 41-78; end 26-30 [23-33];
                # fmk 32-36, medians 41 (1-4 ms) / 35 (>14 ms); 2.4-3.5 / 6-8 / 8-21 ms [to 26].
                CallVariant(
                    "short",
                    "fm",
                    peak_khz=(36.0, 42.0),
                    duration_ms=(2.4, 3.5),
                    start_khz=(75.0, 90.0),
                    end_khz=(26.0, 30.0),
                    weight=0.3,
                ),
                CallVariant(
                    "long",
                    "fm",
                    peak_khz=(33.0, 37.0),
                    duration_ms=(6.0, 8.0),
                    start_khz=(60.0, 80.0),
                    end_khz=(26.0, 30.0),
                    weight=0.35,
                ),  # start [ours]
                CallVariant(
                    "extra_long",
                    "fm_qcf",
                    peak_khz=(32.0, 36.0),
                    duration_ms=(8.0, 21.0),
                    start_khz=(41.0, 78.0),
                    weight=0.35,
                ),  # the pond bat's long calls over water
            ),
            alternation="random",
            ipi_ms=(80.0, 120.0),  # [guess]
            harmonics=_H2_WEAK,
            reference_harmonic=1,
            detection_distance_m=20.0,
            literature=LiteratureRanges(
                peak_khz=(32.0, 41.0), duration_ms=(2.4, 21.0), ipi_ms=(80.0, 120.0), note="IPI [guess]"
            ),
            feeding_buzz=True,
            social=None,
            source="bats.md 4.1 (LfU part 2, Van De Sijpe 2011)",
        ),
        SpeciesParameters(
            label="Myotis mystacinus/brandtii",
            variants=(
                # Start 105-128 short [90-140], 86-115 medium; end 25-36; fmk 43-46 short, 35-42 medium
                # (Durham 65>41, peak 45). Long-call start is [ours], below the medium one.
                CallVariant(
                    "short",
                    "fm",
                    peak_khz=(43.0, 46.0),
                    duration_ms=(1.5, 3.5),
                    start_khz=(105.0, 128.0),
                    end_khz=(25.0, 36.0),
                    weight=0.5,
                ),
                CallVariant(
                    "medium",
                    "fm",
                    peak_khz=(35.0, 42.0),
                    duration_ms=(3.5, 6.0),
                    start_khz=(86.0, 115.0),
                    end_khz=(25.0, 36.0),
                    weight=0.35,
                ),
                CallVariant(
                    "long",
                    "fm",
                    peak_khz=(35.0, 40.0),
                    duration_ms=(6.0, 8.0),
                    start_khz=(80.0, 100.0),
                    end_khz=(25.0, 32.0),
                    weight=0.15,
                ),
            ),
            alternation="random",
            ipi_ms=(75.0, 90.0),  # ~80 (12/s, Durham)
            harmonics=_H2_WEAK,
            reference_harmonic=1,
            detection_distance_m=15.0,
            literature=LiteratureRanges(peak_khz=(35.0, 46.0), duration_ms=(1.5, 8.0), ipi_ms=(80.0, 80.0)),
            feeding_buzz=True,
            social=None,
            source="bats.md 4.1 (LfU part 2, Durham)",
        ),
        SpeciesParameters(
            label="Myotis nattereri",
            variants=(
                # Very broadband: start 135-150 short [120-185], 105-120 medium; end 14-23 [10-27]; fmk 23-40,
                # peak ~38-47 (Durham 38, Somerset 47); labelled-europe measures 49.9 kHz. These are emitted
                # peaks: on a sweep this broad, absorption lowers the peak measured a few metres away by
                # ~3-4 kHz (ml.synth renders it), so they sit ~4 kHz above the target. Long-call start [ours].
                CallVariant(
                    "short",
                    "fm",
                    peak_khz=(47.5, 52.5),
                    duration_ms=(2.0, 3.5),
                    start_khz=(135.0, 150.0),
                    end_khz=(14.0, 23.0),
                    weight=0.3,
                ),
                CallVariant(
                    "medium",
                    "fm",
                    peak_khz=(45.5, 50.5),
                    duration_ms=(3.5, 6.0),
                    start_khz=(105.0, 120.0),
                    end_khz=(14.0, 23.0),
                    weight=0.45,
                ),
                CallVariant(
                    "long",
                    "fm",
                    peak_khz=(42.5, 47.5),
                    duration_ms=(6.0, 8.0),
                    start_khz=(95.0, 115.0),
                    end_khz=(14.0, 23.0),
                    weight=0.25,
                ),
            ),
            alternation="random",
            ipi_ms=(65.0, 85.0),  # ~75 (13/s, Somerset)
            harmonics=_H2_WEAK,
            reference_harmonic=1,
            detection_distance_m=17.0,  # 15-20
            literature=LiteratureRanges(peak_khz=(38.0, 47.0), duration_ms=(2.0, 8.0), ipi_ms=(75.0, 75.0)),
            feeding_buzz=True,
            social=None,
            source="bats.md 4.1 (LfU part 2, Durham, Somerset)",
        ),
        SpeciesParameters(
            label="Plecotus auritus/austriacus",
            variants=(
                # Low-intensity FM with H1 and H2 both strong; H1 ~45-55 -> ~20-25 [guess]; fmk 20-35 (LfU);
                # peak ~25-35 (H1) [guess]; 2-8 ms, often 2-4 (LfU). labelled-europe measures 26.6 kHz and
                # 5.2 ms boxes, so long calls get the larger share.
                CallVariant(
                    "short",
                    "fm",
                    peak_khz=(25.0, 31.0),
                    duration_ms=(2.0, 4.0),
                    start_khz=(45.0, 55.0),
                    end_khz=(20.0, 25.0),
                    weight=0.4,
                ),
                CallVariant(
                    "long",
                    "fm",
                    peak_khz=(25.0, 31.0),
                    duration_ms=(4.0, 8.0),
                    start_khz=(45.0, 55.0),
                    end_khz=(20.0, 25.0),
                    weight=0.6,
                ),
            ),
            alternation="random",
            # ~75 (13/s, Somerset), drawn up to +25 % (the IPI jitter of bats.md 4.2) towards
            # labelled-europe's long-eared bats, which call far slower (174 ms).
            ipi_ms=(78.0, 95.0),
            harmonics=((1, 0.0), (2, 0.0)),  # H1 + H2 both strong: H2 at 0 dB (recipe: 0 to +3 dB)
            reference_harmonic=1,
            detection_distance_m=5.0,  # "only detectable within about 5 m": the whispering bat's low level
            literature=LiteratureRanges(
                peak_khz=(25.0, 35.0), duration_ms=(2.0, 8.0), ipi_ms=(75.0, 75.0), note="peak of H1 [guess]"
            ),
            feeding_buzz=True,
            social=None,
            source="bats.md 4.1 (LfU, Somerset; [guess] where marked), 4.2",
        ),
        SpeciesParameters(
            label="Barbastella barbastellus",
            variants=(
                # Alternating types. A (low): start ~36-40 [guess], Durham 35>28, LfU fmk 30-32, 2-3.5 ms
                # [2-5];
                # B (higher): start ~45-50 [guess], Durham 45>32, LfU fmk 30-35, 2-6 ms [2-10]; peak ~32.
                CallVariant(
                    "A",
                    "fm",
                    peak_khz=(30.0, 32.0),
                    duration_ms=(2.0, 3.5),
                    start_khz=(36.0, 40.0),
                    end_khz=(27.0, 29.5),
                ),
                CallVariant(
                    "B",
                    "fm",
                    peak_khz=(32.0, 35.0),
                    duration_ms=(2.0, 6.0),
                    start_khz=(45.0, 50.0),
                    end_khz=(29.0, 31.5),
                ),
            ),
            alternation="alternate",
            ipi_ms=(58.0, 72.0),  # ~65 (15/s, Durham)
            harmonics=_H2_WEAK,
            reference_harmonic=1,
            detection_distance_m=15.0,
            literature=LiteratureRanges(peak_khz=(30.0, 35.0), duration_ms=(2.0, 6.0), ipi_ms=(65.0, 65.0)),
            feeding_buzz=True,
            social=None,
            source="bats.md 4.1 (LfU, Durham)",
        ),
        SpeciesParameters(
            label="Rhinolophus ferrumequinum",
            variants=(
                # FM-CF-FM: CF 78-83 [77-86] on H2; terminal FM down to 50-78 (flo); 30-60 ms [16-75].
                CallVariant(
                    "cf", "cf_fm", peak_khz=(78.0, 83.0), duration_ms=(30.0, 60.0), end_khz=(55.0, 75.0)
                ),
            ),
            alternation="random",
            ipi_ms=(80.0, 100.0),  # ~80-100 [guess]; high duty cycle (the synth keeps IPI > duration)
            harmonics=((1, -20.0), (2, 0.0), (3, -25.0)),
            reference_harmonic=2,
            detection_distance_m=10.0,
            literature=LiteratureRanges(
                peak_khz=(78.0, 83.0), duration_ms=(30.0, 60.0), ipi_ms=(80.0, 100.0), note="IPI [guess]"
            ),
            feeding_buzz=False,  # bats.md 4.3 describes vespertilionid buzzes only
            social=None,
            source="bats.md 4.1 (LfU part 1), 4.2",
        ),
        SpeciesParameters(
            label="Rhinolophus hipposideros",
            variants=(
                # CF 105-114 [100-116] on H2; flo 83-110; 20-60 ms [16-75], drawn up to 50 ms so that calls
                # fit the ~60-80 ms IPI [guess]; flo kept under the CF (85-100).
                CallVariant(
                    "cf", "cf_fm", peak_khz=(105.0, 114.0), duration_ms=(20.0, 50.0), end_khz=(85.0, 100.0)
                ),
            ),
            alternation="random",
            ipi_ms=(60.0, 80.0),  # ~60-80 [guess]
            harmonics=((1, -20.0), (2, 0.0), (3, -25.0)),
            reference_harmonic=2,
            detection_distance_m=5.0,
            literature=LiteratureRanges(
                peak_khz=(105.0, 114.0), duration_ms=(20.0, 60.0), ipi_ms=(60.0, 80.0), note="IPI [guess]"
            ),
            feeding_buzz=False,
            social=None,
            source="bats.md 4.1 (LfU part 1), 4.2",
        ),
    )
}


def parameters_for(label: str) -> SpeciesParameters:
    """The call parameters of a class; KeyError naming the classes that have some for any other label."""
    try:
        return SPECIES_PARAMETERS[label]
    except KeyError:
        raise KeyError(
            f"no call parameters for {label!r} in bats.md section 4; the generator knows "
            + ", ".join(SPECIES_PARAMETERS)
        ) from None
