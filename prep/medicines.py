"""The medicine dictionary: what people write ("Eliquis 5 mg twice daily", "aspirina 81") read as
catalogue medicines.

Three sources, tried in this order, all of them data:

1. the catalogue's own names (``Drug`` substances, slugs and aliases: brand names, Spanish names,
   common misspellings; ``KnownMedicine`` for medicines with no preparation rule, e.g. statins);
2. the ``drug-named-entity-recognition`` dictionary (brand and foreign names to the generic name,
   built from public drug databases), whose generic name is then looked up in 1;
3. a close spelling (``rapidfuzz``) of a catalogue rule drug's name, for typing errors.

What cannot be read is never dropped: the caller makes a nurse item to classify it. A close
spelling is accepted only towards a medicine with a rule (the worst outcome is a decision item the
prescriber declines), never towards a no-rule medicine (that would silently drop a blood thinner).
Pure: no database access, so ``preview_checklist`` and generation read medicines the same way.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from rapidfuzz import fuzz, process

from prep.models import Drug, KnownMedicine

# Words in a medication line that are doses, forms or frequencies, not names.
_NOISE = frozenset(
    [
        "mg",
        "mcg",
        "µg",
        "ug",
        "g",
        "gram",
        "grams",
        "ml",
        "iu",
        "unit",
        "units",
        "u",
        "tablet",
        "tablets",
        "tab",
        "tabs",
        "pill",
        "pills",
        "capsule",
        "capsules",
        "cap",
        "caps",
        "injection",
        "inj",
        "pen",
        "daily",
        "once",
        "twice",
        "three",
        "times",
        "a",
        "day",
        "per",
        "week",
        "weekly",
        "nightly",
        "bid",
        "tid",
        "qd",
        "qid",
        "od",
        "bd",
        "prn",
        "as",
        "needed",
        "morning",
        "evening",
        "night",
        "at",
        "bedtime",
        "every",
        "other",
        "oral",
        "po",
        "sc",
        "iv",
        "subcutaneous",
        "sq",
        "dose",
        "doses",
        "of",
        "and",
        "or",
        "with",
        "the",
        "for",
        "x",
        "mg/day",
        "mg/d",
        "al",
        "dia",
        "diario",
        "diaria",
        "veces",
        "vez",
        "semana",
        "semanal",
        "cada",
        "noche",
        "manana",
        "mañana",
        "tableta",
        "tabletas",
        "pastilla",
        "pastillas",
        "comprimido",
        "comprimidos",
        "capsula",
        "capsulas",
        "de",
        "y",
        "o",
        "la",
        "el",
        "por",
        "en",
    ]
)
_FUZZY_CUTOFF = 85.0
_MIN_FUZZY_LENGTH = 5


def normalise(text: str) -> str:
    """Lower case, accents removed (apixabán -> apixaban), one space between words."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(re.findall(r"[a-z][a-z\-']*[a-z]|[a-z]", plain))


def name_words(text: str) -> list[str]:
    """The words of a medication line that can be part of a name."""
    return [w for w in normalise(text).split() if w not in _NOISE and len(w) > 1]


@dataclass(frozen=True)
class Resolution:
    """How one medication line was read."""

    text: str
    drugs: tuple[Drug, ...] = ()  # the catalogue rule rows it may be (one substance; by indication or dosing)
    known: KnownMedicine | None = None
    how: str = ""  # shown to staff: "brand name", "generic name of 'Eliquis'", "close spelling of ..."

    @property
    def matched(self) -> bool:
        return bool(self.drugs) or self.known is not None


@dataclass(frozen=True)
class Dictionary:
    """The catalogue's names, indexed: build once per request or command with :func:`build`."""

    drugs_by_name: dict[str, tuple[Drug, ...]]
    known_by_name: dict[str, KnownMedicine]

    def _exact(self, words: Sequence[str]) -> tuple[tuple[Drug, ...], KnownMedicine | None, str]:
        # Longest phrase first, so that "fish oil" or "heparin drip" beat "oil" or "heparin".
        for size in (3, 2, 1):
            for start in range(len(words) - size + 1):
                phrase = " ".join(words[start : start + size])
                if phrase in self.drugs_by_name:
                    return self.drugs_by_name[phrase], None, phrase
                if phrase in self.known_by_name:
                    return (), self.known_by_name[phrase], phrase
        return (), None, ""

    def resolve(self, text: str) -> Resolution:
        words = name_words(text)
        if not words:
            return Resolution(text=text)
        drugs, known, phrase = self._exact(words)
        if drugs or known:
            return Resolution(text=text, drugs=drugs, known=known, how=f"read as {phrase!r}")
        for generic, matched in _generic_names(tuple(words)):
            drugs, known, _ = self._exact(name_words(generic))
            if drugs or known:
                return Resolution(
                    text=text, drugs=drugs, known=known, how=f"{matched!r} is a name of {generic} (drug dictionary)"
                )
        for word in words:
            if len(word) < _MIN_FUZZY_LENGTH:
                continue
            best = process.extractOne(word, self.drugs_by_name.keys(), scorer=fuzz.ratio, score_cutoff=_FUZZY_CUTOFF)
            if best is not None:
                name, score, _ = best
                return Resolution(
                    text=text,
                    drugs=self.drugs_by_name[name],
                    how=f"{word!r} read as {name!r} (close spelling, {score:.0f}%): check it",
                )
        return Resolution(text=text)


def build(drugs: Iterable[Drug], known: Iterable[KnownMedicine] = ()) -> Dictionary:
    drugs_by_name: dict[str, list[Drug]] = {}
    for drug in drugs:
        # A substance names every row of it (aspirin: primary and secondary prevention); an alias
        # names the rows that list it (rybelsus: oral semaglutide only).
        names = {drug.substance, drug.slug.replace("-", " "), *drug.aliases, drug.name}
        for name in {" ".join(name_words(n)) for n in names if n} - {""}:
            drugs_by_name.setdefault(name, []).append(drug)
    known_by_name: dict[str, KnownMedicine] = {}
    for medicine in known:
        for name in {medicine.slug.replace("-", " "), medicine.name, *medicine.aliases}:
            if words := " ".join(name_words(name)):
                known_by_name.setdefault(words, medicine)
    # A name that is both (never in the shipped file) counts as a rule drug: the safe reading.
    for name in drugs_by_name:
        known_by_name.pop(name, None)
    return Dictionary(
        drugs_by_name={name: tuple(rows) for name, rows in drugs_by_name.items()}, known_by_name=known_by_name
    )


@lru_cache(maxsize=4096)
def _generic_names(words: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """(generic name, the word it was found from) for every drug the public dictionary finds."""
    from drug_named_entity_recognition import find_drugs

    found = []
    for entry, start, end in find_drugs(list(words), is_ignore_case=True):
        generic = normalise(str(entry.get("name", "")))
        if generic:
            found.append((generic, " ".join(words[start:end])))
    return tuple(found)
