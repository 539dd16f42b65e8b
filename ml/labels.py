"""The one label vocabulary of Batsite: species, acoustic pairs, groups, call types and noise.

Every other part speaks these ids: the synthetic generator writes them, datasets are read through them, the
model's classes are a subset of them, the database stores them. Species ids are scientific names; Dutch and
English names and the Dutch field codes (GD, RD, LV, ...) are for display only. Codes from other tools
(GUANO `Species Manual ID` such as PIPPIP, LABO, Myosod; Xeno-Canto genus + species) are mapped onto the ids
here and nowhere else.

Fallback rule (`to_class`): a species in the label set is its own class; a member of an acoustic pair maps to
the pair; otherwise its group (Myotis sp., Nyctaloid, ...). Species outside Europe map to `Chiroptera sp.`,
as do European species of genera without a group (Barbastella, Miniopterus, Hypsugo, ...): barbastelle calls
resemble no other Dutch genus closely enough for a shared group to mean anything.

Pure data and small functions, no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

__all__ = [
    "BAT",
    "CALL_TYPES",
    "DEFAULT_LABEL_SET",
    "EUROPEAN_SPECIES",
    "GROUPS",
    "NOISE",
    "PAIRS",
    "SPECIES",
    "Group",
    "Pair",
    "Species",
    "call_type_from_xeno_canto",
    "canonical",
    "display_name",
    "from_guano_code",
    "from_guano_field",
    "from_xeno_canto",
    "group_of",
    "is_european",
    "is_species",
    "normalise_call_type",
    "pair_of",
    "to_class",
]

NOISE = "noise"
BAT = "Chiroptera sp."  # a bat, group unknown
CALL_TYPES: tuple[str, ...] = ("echolocation", "feeding_buzz", "social_call", "none")


# --------------------------------------------------------------------------------------------- data types


@dataclass(frozen=True)
class Species:
    scientific: str  # the id
    dutch: str
    english: str
    code: str  # Dutch field code (bats.md section 3); "" where Dutch practice has none
    group: str


@dataclass(frozen=True)
class Pair:
    """Two species that cannot be told apart by sound; models are trained and scored on the pair."""

    name: str  # the id, e.g. "Myotis mystacinus/brandtii"
    members: tuple[str, str]
    dutch: str
    english: str
    group: str


@dataclass(frozen=True)
class Group:
    name: str  # the id, e.g. "Myotis sp."
    dutch: str
    english: str
    genera: tuple[str, ...]  # genera whose species fall back to this group


# --------------------------------------------------------------------------------------------- vocabulary

GROUPS: Mapping[str, Group] = MappingProxyType(
    {
        g.name: g
        for g in (
            Group(
                "Pipistrellus sp.", "dwergvleermuis spec.", "Pipistrelle (species unknown)", ("Pipistrellus",)
            ),
            Group("Myotis sp.", "Myotis spec.", "Myotis (species unknown)", ("Myotis",)),
            Group(
                "Plecotus sp.", "grootoorvleermuis spec.", "Long-eared bat (species unknown)", ("Plecotus",)
            ),
            Group(
                "Nyctaloid",
                "NEV-groep (rosse vleermuis, bosvleermuis, laatvlieger, tweekleurige vleermuis)",
                "Nyctaloid (noctule, serotine or parti-coloured bat)",
                ("Nyctalus", "Eptesicus", "Vespertilio"),
            ),
            Group(
                "Rhinolophus sp.", "hoefijzerneus spec.", "Horseshoe bat (species unknown)", ("Rhinolophus",)
            ),
            Group(BAT, "vleermuis (groep onbekend)", "Bat (group unknown)", ()),
        )
    }
)
_GENUS_GROUP: dict[str, str] = {genus: g.name for g in GROUPS.values() for genus in g.genera}


def _species(scientific: str, dutch: str, english: str, code: str) -> Species:
    genus = scientific.split()[0]
    return Species(scientific, dutch, english, code, _GENUS_GROUP.get(genus, BAT))


# Every Dutch species, in the order of bats.md section 3 (codes from Dutch planning software, "" where none).
SPECIES: Mapping[str, Species] = MappingProxyType(
    {
        s.scientific: s
        for s in (
            _species("Pipistrellus pipistrellus", "gewone dwergvleermuis", "Common pipistrelle", "GD"),
            _species("Pipistrellus nathusii", "ruige dwergvleermuis", "Nathusius' pipistrelle", "RD"),
            _species("Pipistrellus pygmaeus", "kleine dwergvleermuis", "Soprano pipistrelle", "KD"),
            _species("Pipistrellus kuhlii", "Kuhls dwergvleermuis", "Kuhl's pipistrelle", ""),
            _species("Eptesicus serotinus", "laatvlieger", "Serotine", "LV"),
            _species("Eptesicus nilssonii", "noordse vleermuis", "Northern bat", ""),
            _species("Nyctalus noctula", "rosse vleermuis", "Noctule", "RV"),
            _species("Nyctalus leisleri", "bosvleermuis", "Leisler's bat", "BoV"),
            _species("Vespertilio murinus", "tweekleurige vleermuis", "Parti-coloured bat", "TV"),
            _species("Myotis daubentonii", "watervleermuis", "Daubenton's bat", "WV"),
            _species("Myotis dasycneme", "meervleermuis", "Pond bat", "MV"),
            _species("Myotis nattereri", "franjestaart", "Natterer's bat", "FS"),
            _species("Myotis mystacinus", "baardvleermuis", "Whiskered bat", "BaV"),
            _species("Myotis brandtii", "Brandts vleermuis", "Brandt's bat", "BrV"),
            _species("Myotis emarginatus", "ingekorven vleermuis", "Geoffroy's bat", "IV"),
            _species("Myotis bechsteinii", "Bechsteins vleermuis", "Bechstein's bat", "BeV"),
            _species("Myotis myotis", "vale vleermuis", "Greater mouse-eared bat", "VV"),
            _species("Myotis alcathoe", "nimfvleermuis", "Alcathoe bat", ""),
            _species("Plecotus auritus", "gewone grootoorvleermuis", "Brown long-eared bat", "GeG"),
            _species("Plecotus austriacus", "grijze grootoorvleermuis", "Grey long-eared bat", "GrG"),
            _species("Barbastella barbastellus", "mopsvleermuis", "Barbastelle", ""),
            _species("Rhinolophus ferrumequinum", "grote hoefijzerneus", "Greater horseshoe bat", ""),
            _species("Rhinolophus hipposideros", "kleine hoefijzerneus", "Lesser horseshoe bat", ""),
        )
    }
)

PAIRS: Mapping[str, Pair] = MappingProxyType(
    {
        p.name: p
        for p in (
            Pair(
                "Myotis mystacinus/brandtii",
                ("Myotis mystacinus", "Myotis brandtii"),
                "baardvleermuis/Brandts vleermuis",
                "Whiskered/Brandt's bat",
                "Myotis sp.",
            ),
            Pair(
                "Plecotus auritus/austriacus",
                ("Plecotus auritus", "Plecotus austriacus"),
                "gewone/grijze grootoorvleermuis",
                "Brown/grey long-eared bat",
                "Plecotus sp.",
            ),
            Pair(
                "Pipistrellus nathusii/kuhlii",
                ("Pipistrellus nathusii", "Pipistrellus kuhlii"),
                "ruige/Kuhls dwergvleermuis",
                "Nathusius'/Kuhl's pipistrelle",
                "Pipistrellus sp.",
            ),
        )
    }
)
_PAIR_OF: dict[str, str] = {member: p.name for p in PAIRS.values() for member in p.members}

# The classes of the shipped model, in ARCHITECTURE.md order (the order is the model's output order).
DEFAULT_LABEL_SET: tuple[str, ...] = (
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
    NOISE,
)

# European bats beyond the Dutch list, so that a French or Spanish expert label falls back to its group
# (Myotis capaccinii -> Myotis sp.) while a Costa Rican Myotis falls back to Chiroptera sp.
_OTHER_EUROPEAN = (
    "Rhinolophus euryale", "Rhinolophus mehelyi", "Rhinolophus blasii",
    "Myotis blythii", "Myotis punicus", "Myotis capaccinii", "Myotis davidii", "Myotis escalerai",
    "Myotis crypticus", "Myotis nipalensis",
    "Nyctalus lasiopterus", "Nyctalus azoreum",
    "Eptesicus isabellinus", "Eptesicus anatolicus",
    "Pipistrellus maderensis", "Pipistrellus hanaki",
    "Hypsugo savii", "Hypsugo darwinii",
    "Plecotus macrobullaris", "Plecotus kolombatovici", "Plecotus sardus", "Plecotus teneriffae",
    "Barbastella darjelingensis",
    "Miniopterus schreibersii", "Miniopterus pallidus",
    "Tadarida teniotis", "Rousettus aegyptiacus",
)  # fmt: skip
EUROPEAN_SPECIES: frozenset[str] = frozenset(SPECIES) | frozenset(_OTHER_EUROPEAN)

# NABat four-letter codes (GUANO `Species Manual ID` of North American files): genus and species by name,
# so that a LABO file is recorded as Lasiurus borealis and scored as Chiroptera sp.
_NABAT_CODES: dict[str, str] = {
    "ANPA": "Antrozous pallidus", "CHME": "Choeronycteris mexicana", "CORA": "Corynorhinus rafinesquii",
    "COTO": "Corynorhinus townsendii", "EPFU": "Eptesicus fuscus", "EUFL": "Eumops floridanus",
    "EUMA": "Euderma maculatum", "EUPE": "Eumops perotis", "EUUN": "Eumops underwoodi",
    "IDPH": "Idionycteris phyllotis", "LABL": "Lasiurus blossevillii", "LABO": "Lasiurus borealis",
    "LACI": "Lasiurus cinereus", "LAEG": "Lasiurus ega", "LAIN": "Lasiurus intermedius",
    "LANO": "Lasionycteris noctivagans", "LASE": "Lasiurus seminolus", "LAXA": "Lasiurus xanthinus",
    "LENI": "Leptonycteris nivalis", "LEYE": "Leptonycteris yerbabuenae", "MACA": "Macrotus californicus",
    "MOME": "Mormoops megalophylla", "MYAU": "Myotis austroriparius", "MYCA": "Myotis californicus",
    "MYCI": "Myotis ciliolabrum", "MYEV": "Myotis evotis", "MYGR": "Myotis grisescens",
    "MYKE": "Myotis keenii", "MYLE": "Myotis leibii", "MYLU": "Myotis lucifugus", "MYOC": "Myotis occultus",
    "MYSE": "Myotis septentrionalis", "MYSO": "Myotis sodalis", "MYTH": "Myotis thysanodes",
    "MYVE": "Myotis velifer", "MYVO": "Myotis volans", "MYYU": "Myotis yumanensis",
    "NYFE": "Nyctinomops femorosaccus", "NYHU": "Nycticeius humeralis", "NYMA": "Nyctinomops macrotis",
    "PAHE": "Parastrellus hesperus", "PESU": "Perimyotis subflavus", "TABR": "Tadarida brasiliensis",
}  # fmt: skip
# Tool codes that name no species: NABat frequency groups and "no id", and plain noise.
_SPECIAL_CODES: dict[str, str] = {
    "NOID": BAT, "NO ID": BAT, "HIF": BAT, "LOF": BAT, "MIDF": BAT, "25K": BAT, "40K": BAT, "50K": BAT,
    "BAT": BAT, "CHIROPTERA": BAT, "UNKNOWN": BAT,
    "NOISE": NOISE, "NONE": NOISE, "NOBAT": NOISE, "NO BAT": NOISE, "NOBATS": NOISE,
    "MYOSP": "Myotis sp.", "MYOTIS": "Myotis sp.", "MYSP": "Myotis sp.", "MSP": "Myotis sp.",
    "PIPSP": "Pipistrellus sp.", "PIPISTRELLUS": "Pipistrellus sp.", "PSP": "Pipistrellus sp.",
    "PLESP": "Plecotus sp.", "PLECOTUS": "Plecotus sp.",
    "RHISP": "Rhinolophus sp.", "RHINOLOPHUS": "Rhinolophus sp.",
    "NYCTALOID": "Nyctaloid", "NEV": "Nyctaloid", "ENV": "Nyctaloid", "NYCSP": "Nyctaloid",
    "EPTSP": "Nyctaloid", "NYCTALUS": "Nyctaloid", "EPTESICUS": "Nyctaloid",
}  # fmt: skip


# --------------------------------------------------------------------------------------------- indexes


def _code_forms(scientific: str) -> tuple[str, ...]:
    """Codes tools build from a binomial: PIPPIP / Pippip (3+3), PIPI (2+2), Ppip (1+3)."""
    genus, species = scientific.split()[:2]
    return tuple((genus[:g] + species[:s]).upper() for g, s in ((3, 3), (2, 2), (1, 3)))


def _build_code_index() -> dict[str, str]:
    index: dict[str, str] = {}
    claims: dict[str, set[str]] = {}
    # North American names too, so SonoBat-style codes (Myosod, Lasbor) resolve as well as NABat ones.
    for scientific in sorted(EUROPEAN_SPECIES | set(_NABAT_CODES.values())):
        for code in _code_forms(scientific):
            claims.setdefault(code, set()).add(scientific)
    for code, names in claims.items():
        if len(names) == 1:
            index[code] = next(iter(names))
        else:
            # Two species share the code (MYDA: daubentonii and dasycneme): it names only what they share.
            groups = {group_of(n) for n in names}
            pairs = {_PAIR_OF.get(n) for n in names}
            if len(pairs) == 1 and None not in pairs:
                index[code] = pairs.pop()  # type: ignore[assignment]
            else:
                index[code] = groups.pop() if len(groups) == 1 else BAT
    index.update(_NABAT_CODES)  # explicit NABat codes beat generated ones
    index.update(_SPECIAL_CODES)
    for s in SPECIES.values():
        if s.code:
            index[s.code.upper()] = s.scientific
    return index


def _fold(text: str) -> str:
    return re.sub(r"\s+", " ", text.strip()).casefold()


def _build_name_index() -> dict[str, str]:
    index: dict[str, str] = {}
    for name in EUROPEAN_SPECIES:
        index[_fold(name)] = name
    for s in SPECIES.values():
        index[_fold(s.dutch)] = s.scientific
        index[_fold(s.english)] = s.scientific
    for p in PAIRS.values():
        a, b = (m.split()[1] for m in p.members)
        genus = p.members[0].split()[0]
        for first, second in ((a, b), (b, a)):
            index[_fold(f"{genus} {first}/{second}")] = p.name
            index[_fold(f"{genus} {first}/{genus} {second}")] = p.name
        index[_fold(p.dutch)] = p.name
        index[_fold(p.english)] = p.name
    for g in GROUPS.values():
        index[_fold(g.name)] = g.name
        index[_fold(g.english)] = g.name
        index[_fold(g.dutch)] = g.name
        for genus in g.genera:
            for suffix in ("", " sp", " sp.", " spp", " spp.", " spec", " spec.", " species"):
                index[_fold(genus + suffix)] = g.name
    index.update({"nyctaloid (nev)": "Nyctaloid", "nev": "Nyctaloid", "chiroptera": BAT, "bat": BAT})
    index.update({"noise": NOISE, "no bat": NOISE, "nobat": NOISE, "ruis": NOISE})
    return index


# --------------------------------------------------------------------------------------------- lookups


def is_species(label: str) -> bool:
    """True for a single-species id (a binomial), False for pairs, groups and noise."""
    return bool(re.fullmatch(r"[A-Z][a-z]+ [a-z]+", label))


def is_european(label: str) -> bool:
    """True for European species and every label of the vocabulary (pairs, groups, noise)."""
    return label in EUROPEAN_SPECIES or label in PAIRS or label in GROUPS or label == NOISE


def pair_of(label: str) -> str | None:
    """The acoustic pair a species belongs to, or None."""
    return _PAIR_OF.get(label)


def group_of(label: str) -> str:
    """The fallback group of any label: species and pairs by genus, groups themselves, noise `noise`.

    Non-European species and genera without a group (Barbastella, Miniopterus, ...) give `Chiroptera sp.`.
    """
    if label == NOISE:
        return NOISE
    if label in GROUPS:
        return label
    if label in PAIRS:
        return PAIRS[label].group
    if label in SPECIES:
        return SPECIES[label].group
    if label in EUROPEAN_SPECIES:
        return _GENUS_GROUP.get(label.split()[0], BAT)
    return BAT


def canonical(name: str) -> str | None:
    """The vocabulary id for a name in any spelling we know (scientific, Dutch, English, pair, group, code).

    Unknown binomials (a Costa Rican species) come back as a tidy "Genus species"; None when the text is
    neither a known name, a code nor a binomial.
    """
    text = name.strip()
    if not text:
        return None
    if text in SPECIES or text in PAIRS or text in GROUPS or text == NOISE:
        return text
    found = _NAME_INDEX.get(_fold(text))
    if found:
        return found
    code = from_guano_code(text)
    if code:
        return code
    words = text.replace("_", " ").split()
    if len(words) == 2 and all(w.isalpha() for w in words):
        return f"{words[0].capitalize()} {words[1].lower()}"
    # "Pipistrellus pipistrellus (Schreber, 1774)": a binomial followed by its authority
    if len(words) >= 2 and _fold(" ".join(words[:2])) in _NAME_INDEX:
        return _NAME_INDEX[_fold(" ".join(words[:2]))]
    return None


def to_class(name: str, label_set: Iterable[str] = DEFAULT_LABEL_SET) -> str:
    """Map any species name, pair member, code or foreign name onto a class of `label_set`.

    Order: the label itself; its pair; a group whose Dutch species all fall in one class (Plecotus sp. ->
    Plecotus auritus/austriacus); else its group (a fallback answer, not necessarily a class); else
    `Chiroptera sp.`. Non-European species always give `Chiroptera sp.`.
    """
    classes = frozenset(label_set)
    label = canonical(name)
    if label is None:
        return BAT
    if label in classes:
        return label
    if label == NOISE:
        return NOISE
    if label in EUROPEAN_SPECIES:
        pair = _PAIR_OF.get(label)
        if pair and pair in classes:
            return pair
        return group_of(label)
    if label in PAIRS:
        return PAIRS[label].group
    if label in GROUPS and label != BAT:
        members = {to_class(s.scientific, classes) for s in SPECIES.values() if s.group == label}
        return members.pop() if len(members) == 1 and members <= classes else label
    return BAT


def from_guano_code(code: str) -> str | None:
    """The id for a species code used in GUANO and by detector software; None when unknown.

    Accepts NABat four-letter codes (LABO, MYLU), six-letter genus+species codes in any case (PIPPIP,
    Myosod, NycNoc), four-letter 1+3 codes (Ppip, Mdau), and the Dutch field codes (GD, RD, BaV, ...).
    A code two species share (MYDA: daubentonii or dasycneme) gives their pair or group.
    """
    key = re.sub(r"[\s._-]+", "", code.strip()).upper() if code else ""
    if not key:
        return None
    found = _CODE_INDEX.get(key)
    if found:
        return found
    spaced = code.strip().upper()
    return _CODE_INDEX.get(spaced)


def from_guano_field(value: str) -> tuple[str, ...]:
    """Ids for a GUANO `Species Manual ID` / `Species Auto ID` value (a comma list, dominant first)."""
    labels: list[str] = []
    for part in re.split(r"[,;]", value or ""):
        part = part.strip()
        if not part:
            continue
        label = from_guano_code(part) or canonical(part)
        if label and label not in labels:
            labels.append(label)
    return tuple(labels)


_XC_PLACEHOLDER_SPECIES = frozenset(
    {"sp", "sp.", "spp", "spp.", "spec", "spec.", "mystery", "sp.nov", "unknown"}
)


def from_xeno_canto(gen: str, sp: str) -> str:
    """The id for a Xeno-Canto record's `gen` and `sp` (e.g. "Pipistrellus", "pipistrellus").

    A missing or placeholder species ("", "sp.", "mystery") gives the genus's group, or `Chiroptera sp.`.
    """
    genus = (gen or "").strip().capitalize()
    species = (sp or "").strip().lower()
    if not genus:
        return BAT
    if not species or species in _XC_PLACEHOLDER_SPECIES:
        return _GENUS_GROUP.get(genus, BAT)
    return canonical(f"{genus} {species}") or BAT


_XC_BUZZ = re.compile(r"buzz")
_XC_ECHO = re.compile(r"echolocation")
_XC_SOCIAL = re.compile(
    r"social|song|lekking|distress|defensive|advertisement|mating|agonistic|courtship|territorial|alarm|"
    r"release call|disturbance|begging"
)


def call_type_from_xeno_canto(type_text: str) -> tuple[str, ...]:
    """Call types in a Xeno-Canto `type` field ("echolocation, feeding buzz"), in the order written.

    echolocation -> echolocation; feeding buzz (any spelling with "buzz") -> feeding_buzz; social,
    advertisement, mating, agonistic, distress, defensive, song, lekking ... -> social_call. Unknown or
    uncertain types give nothing, so the caller decides the default.
    """
    found: list[str] = []
    for part in (type_text or "").split(","):
        part = part.strip().casefold()
        if _XC_BUZZ.search(part):
            kind = "feeding_buzz"
        elif _XC_ECHO.search(part):
            kind = "echolocation"
        elif _XC_SOCIAL.search(part):
            kind = "social_call"
        else:
            continue
        if kind not in found:
            found.append(kind)
    return tuple(found)


def normalise_call_type(text: str) -> str | None:
    """One call type id from any spelling ("feeding buzz", "social", "echo"); None if unknown."""
    folded = _fold(text).replace("-", " ").replace("_", " ")
    if folded in ("none", "noise", "no call"):
        return "none"
    if "buzz" in folded:
        return "feeding_buzz"
    if folded.startswith("echo") or folded in ("search", "search phase", "approach"):
        return "echolocation"
    if _XC_SOCIAL.search(folded) or folded == "social call":
        return "social_call"
    return None


def display_name(label: str, language: str = "en") -> str:
    """Name to show a user: English ("en") or Dutch ("nl"); "sci" gives the id. Unknown labels as given."""
    if language not in ("en", "nl", "sci"):
        raise ValueError(f"language must be 'en', 'nl' or 'sci', not {language!r}")
    if language == "sci":
        return label
    dutch = language == "nl"
    if label in SPECIES:
        return SPECIES[label].dutch if dutch else SPECIES[label].english
    if label in PAIRS:
        return PAIRS[label].dutch if dutch else PAIRS[label].english
    if label in GROUPS:
        return GROUPS[label].dutch if dutch else GROUPS[label].english
    if label == NOISE:
        return "ruis (geen vleermuis)" if dutch else "Noise (no bat)"
    return label


_NAME_INDEX: dict[str, str] = _build_name_index()
_CODE_INDEX: dict[str, str] = _build_code_index()
