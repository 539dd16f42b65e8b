"""ml.labels: the vocabulary and the mapping of foreign names and codes onto it."""

from __future__ import annotations

import csv
import json

import pytest

from ml.labels import (
    BAT,
    CALL_TYPES,
    DEFAULT_LABEL_SET,
    GROUPS,
    NOISE,
    PAIRS,
    SPECIES,
    call_type_from_xeno_canto,
    canonical,
    display_name,
    from_guano_code,
    from_guano_field,
    from_xeno_canto,
    group_of,
    is_european,
    is_species,
    normalise_call_type,
    pair_of,
    to_class,
)


def test_default_label_set_is_the_sixteen_classes_in_architecture_order():
    assert DEFAULT_LABEL_SET == (
        "Pipistrellus pipistrellus",
        "Pipistrellus pygmaeus",
        "Pipistrellus nathusii/kuhlii",
        "Nyctalus noctula",
        "Nyctalus leisleri",
        "Eptesicus serotinus",
        "Vespertilio murinus",
        "Myotis daubentonii",
        "Myotis dasycneme",
        "Myotis mystacinus/brandtii",
        "Myotis nattereri",
        "Plecotus auritus/austriacus",
        "Barbastella barbastellus",
        "Rhinolophus ferrumequinum",
        "Rhinolophus hipposideros",
        "noise",
    )


def test_every_default_class_is_a_known_species_pair_or_noise():
    for label in DEFAULT_LABEL_SET:
        assert label in SPECIES or label in PAIRS or label == NOISE
        assert to_class(label) == label


def test_every_dutch_species_has_names_and_a_group():
    assert len(SPECIES) == 23
    for s in SPECIES.values():
        assert s.scientific and s.dutch and s.english
        assert s.group in GROUPS
    codes = [s.code for s in SPECIES.values() if s.code]
    assert len(codes) == len(set(codes)) == 17


def test_call_types_and_noise_match_the_architecture():
    assert CALL_TYPES == ("echolocation", "feeding_buzz", "social_call", "none")
    assert NOISE == "noise"
    assert group_of(NOISE) == NOISE


@pytest.mark.parametrize(
    ("label", "group"),
    [
        ("Pipistrellus pipistrellus", "Pipistrellus sp."),
        ("Pipistrellus nathusii/kuhlii", "Pipistrellus sp."),
        ("Myotis mystacinus/brandtii", "Myotis sp."),
        ("Plecotus auritus", "Plecotus sp."),
        ("Nyctalus leisleri", "Nyctaloid"),
        ("Eptesicus nilssonii", "Nyctaloid"),
        ("Vespertilio murinus", "Nyctaloid"),
        ("Rhinolophus hipposideros", "Rhinolophus sp."),
        ("Barbastella barbastellus", BAT),
        ("Miniopterus schreibersii", BAT),
        ("Noctilio leporinus", BAT),
        ("Myotis sp.", "Myotis sp."),
    ],
)
def test_group_of_gives_the_fallback_group(label, group):
    assert group_of(label) == group


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Pipistrellus pipistrellus", "Pipistrellus pipistrellus"),
        ("Myotis brandtii", "Myotis mystacinus/brandtii"),
        ("Myotis mystacinus", "Myotis mystacinus/brandtii"),
        ("Plecotus austriacus", "Plecotus auritus/austriacus"),
        ("Pipistrellus kuhlii", "Pipistrellus nathusii/kuhlii"),
        ("Plecotus sp.", "Plecotus auritus/austriacus"),  # both Dutch Plecotus species are the one pair
        ("Myotis myotis", "Myotis sp."),  # Dutch, but no class of its own
        ("Eptesicus nilssonii", "Nyctaloid"),
        ("Myotis capaccinii", "Myotis sp."),  # European, not Dutch
        ("Miniopterus schreibersii", BAT),
        ("Myotis nigricans", BAT),  # a Neotropical Myotis is not scored as a European one
        ("Carollia perspicillata", BAT),
        ("PIPPIP", "Pipistrellus pipistrellus"),
        ("LABO", BAT),
        ("GD", "Pipistrellus pipistrellus"),
        ("BrV", "Myotis mystacinus/brandtii"),
        ("laatvlieger", "Eptesicus serotinus"),
        ("Noctule", "Nyctalus noctula"),
        ("noise", NOISE),
        ("Noise", NOISE),
        ("Chiroptera sp.", BAT),
        ("Rhinolophus sp.", "Rhinolophus sp."),
        ("", BAT),
        ("???", BAT),
    ],
)
def test_to_class_maps_names_onto_the_default_classes(name, expected):
    assert to_class(name) == expected


def test_to_class_with_a_label_set_that_splits_a_pair_keeps_the_species():
    label_set = ("Myotis mystacinus", "Myotis brandtii", NOISE)

    assert to_class("Myotis brandtii", label_set) == "Myotis brandtii"
    assert to_class("Myotis daubentonii", label_set) == "Myotis sp."
    assert to_class("Pipistrellus kuhlii", label_set) == "Pipistrellus sp."


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("PIPPIP", "Pipistrellus pipistrellus"),
        ("pippyg", "Pipistrellus pygmaeus"),
        ("NycNoc", "Nyctalus noctula"),
        ("EPTSER", "Eptesicus serotinus"),
        ("BARBAR", "Barbastella barbastellus"),
        ("Ppip", "Pipistrellus pipistrellus"),
        ("Mdau", "Myotis daubentonii"),
        ("Pnat", "Pipistrellus nathusii"),
        ("LABO", "Lasiurus borealis"),
        ("ANPA", "Antrozous pallidus"),
        ("MYLU", "Myotis lucifugus"),
        ("Myosod", "Myotis sodalis"),
        ("EPFU", "Eptesicus fuscus"),
        ("MYDA", "Myotis sp."),  # daubentonii or dasycneme: only the group is certain
        ("PLAU", "Plecotus auritus/austriacus"),
        ("GD", "Pipistrellus pipistrellus"),
        ("RD", "Pipistrellus nathusii"),
        ("BaV", "Myotis mystacinus"),
        ("GeG", "Plecotus auritus"),
        ("NoID", BAT),
        ("HiF", BAT),
        ("Noise", NOISE),
        ("", None),
        ("QWERTY", None),
    ],
)
def test_guano_codes_map_onto_ids(code, expected):
    assert from_guano_code(code) == expected


def test_guano_species_list_gives_every_species_dominant_first():
    assert from_guano_field("PIPPIP, NYCNOC") == ("Pipistrellus pipistrellus", "Nyctalus noctula")
    assert from_guano_field("") == ()


@pytest.mark.parametrize(
    ("gen", "sp", "expected"),
    [
        ("Pipistrellus", "pipistrellus", "Pipistrellus pipistrellus"),
        ("Myotis", "dasycneme", "Myotis dasycneme"),
        ("Plecotus", "", "Plecotus sp."),
        ("Myotis", "sp.", "Myotis sp."),
        ("Noctilio", "leporinus", "Noctilio leporinus"),
        ("Mystery", "mystery", BAT),  # Xeno-Canto's placeholder for an unidentified sound
        ("", "", BAT),
    ],
)
def test_xeno_canto_names_map_onto_ids(gen, sp, expected):
    assert from_xeno_canto(gen, sp) == expected


def test_every_real_xeno_canto_bat_maps_to_a_class_or_group(shared_data):
    page = json.loads((shared_data / "xeno-canto" / "api-v2" / "page1.json").read_text())
    classes = set(DEFAULT_LABEL_SET) | set(GROUPS)

    mapped = {(r["gen"], r["sp"]): to_class(from_xeno_canto(r["gen"], r["sp"])) for r in page["recordings"]}

    assert all(c in classes for c in mapped.values())
    assert mapped[("Myotis", "dasycneme")] == "Myotis dasycneme"
    assert mapped[("Carollia", "perspicillata")] == BAT
    assert mapped[("Plecotus", "macrobullaris")] == "Plecotus sp."


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("echolocation", ("echolocation",)),
        ("echolocation, feeding buzz", ("echolocation", "feeding_buzz")),
        ("echolocation, Buzz feeding", ("echolocation", "feeding_buzz")),
        ("echolocation, Feeding buzzes", ("echolocation", "feeding_buzz")),
        ("social call, song", ("social_call",)),
        ("distress call, echolocation", ("social_call", "echolocation")),
        ("lekking call", ("social_call",)),
        ("defensive call", ("social_call",)),
        ("advertisement call", ("social_call",)),
        ("uncertain", ()),
        ("", ()),
    ],
)
def test_xeno_canto_sound_types_map_onto_call_types(text, expected):
    assert call_type_from_xeno_canto(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("echolocation", "echolocation"), ("feeding buzz", "feeding_buzz"), ("feeding_buzz", "feeding_buzz"),
     ("social_call", "social_call"), ("none", "none"), ("whistle?", None)],
)  # fmt: skip
def test_call_type_spellings_normalise(text, expected):
    assert normalise_call_type(text) == expected


def test_every_label_in_the_real_labelled_data_maps_somewhere_sensible(shared_data):
    folder = shared_data / "recordings" / "labelled-europe"
    names = {row["species"] for row in csv.DictReader((folder / "labels.csv").open())}
    names |= {row["species"] for row in csv.DictReader((folder / "events.csv").open())}

    mapped = {name: to_class(name) for name in names}

    assert mapped["Miniopterus schreibersii"] == BAT
    assert mapped["Plecotus sp."] == "Plecotus auritus/austriacus"
    assert mapped["Myotis myotis"] == "Myotis sp."
    assert all(canonical(name) is not None for name in names)
    assert not any(is_european(n) is False for n in names if n != "Miniopterus schreibersii")


def test_is_european_separates_european_from_other_species():
    assert is_european("Pipistrellus pipistrellus")
    assert is_european("Miniopterus schreibersii")
    assert is_european("Myotis sp.") and is_european(NOISE)
    assert not is_european("Lasiurus borealis")
    assert not is_european("Carollia perspicillata")


def test_is_species_and_pair_of():
    assert is_species("Myotis daubentonii")
    assert not is_species("Myotis sp.") and not is_species("Myotis mystacinus/brandtii")
    assert not is_species(NOISE)
    assert pair_of("Myotis brandtii") == "Myotis mystacinus/brandtii"
    assert pair_of("Myotis daubentonii") is None


@pytest.mark.parametrize("language", ["en", "nl"])
def test_every_default_class_and_group_has_a_display_name(language):
    for label in (*DEFAULT_LABEL_SET, *GROUPS):
        name = display_name(label, language)
        assert name and name != label


def test_display_names_in_english_and_dutch():
    assert display_name("Pipistrellus pipistrellus") == "Common pipistrelle"
    assert display_name("Pipistrellus pipistrellus", "nl") == "gewone dwergvleermuis"
    assert display_name("Myotis mystacinus/brandtii", "nl") == "baardvleermuis/Brandts vleermuis"
    assert display_name("Noctilio leporinus") == "Noctilio leporinus"
    with pytest.raises(ValueError):
        display_name("noise", "fr")
