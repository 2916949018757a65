"""How people write places, folded for comparison: shared by the gazetteer and its index builder.

Both sides must fold text the same way: the index stores keys made by these functions and the
gazetteer looks up keys made by them (the index file name carries a hash of this module, so a
change here rebuilds the index).
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final

__all__ = [
    "CONTINENT_NAMES",
    "COUNTRY_ALIASES",
    "LABEL_REGION_COUNTRIES",
    "REGIONS",
    "REGION_ADMIN1",
    "name_key",
    "normalize",
    "qualifier_key",
    "short_form",
]

CONTINENT_NAMES: Final[dict[str, str]] = {
    "AF": "Africa",
    "AN": "Antarctica",
    "AS": "Asia",
    "EU": "Europe",
    "NA": "North America",
    "OC": "Oceania",
    "SA": "South America",
}

# Countries whose labels always show the region: "Portland, OR, US".
LABEL_REGION_COUNTRIES: Final = frozenset({"US", "CA", "AU"})

# Admin1 regions outside the US, keyed by (country, GeoNames admin1 code):
# (code people write, name). Checked against the data: Toronto is CA/08,
# Vancouver CA/02, Sydney AU/02, Perth AU/08, Cardiff GB/WLS, and so on.
REGIONS: Final[dict[tuple[str, str], tuple[str, str]]] = {
    ("CA", "01"): ("AB", "Alberta"),
    ("CA", "02"): ("BC", "British Columbia"),
    ("CA", "03"): ("MB", "Manitoba"),
    ("CA", "04"): ("NB", "New Brunswick"),
    ("CA", "05"): ("NL", "Newfoundland and Labrador"),
    ("CA", "07"): ("NS", "Nova Scotia"),
    ("CA", "08"): ("ON", "Ontario"),
    ("CA", "09"): ("PE", "Prince Edward Island"),
    ("CA", "10"): ("QC", "Quebec"),
    ("CA", "11"): ("SK", "Saskatchewan"),
    ("CA", "12"): ("YT", "Yukon"),
    ("CA", "13"): ("NT", "Northwest Territories"),
    ("CA", "14"): ("NU", "Nunavut"),
    ("AU", "01"): ("ACT", "Australian Capital Territory"),
    ("AU", "02"): ("NSW", "New South Wales"),
    ("AU", "03"): ("NT", "Northern Territory"),
    ("AU", "04"): ("QLD", "Queensland"),
    ("AU", "05"): ("SA", "South Australia"),
    ("AU", "06"): ("TAS", "Tasmania"),
    ("AU", "07"): ("VIC", "Victoria"),
    ("AU", "08"): ("WA", "Western Australia"),
    ("GB", "ENG"): ("ENG", "England"),
    ("GB", "NIR"): ("NIR", "Northern Ireland"),
    ("GB", "SCT"): ("SCT", "Scotland"),
    ("GB", "WLS"): ("WLS", "Wales"),
}

REGION_ADMIN1: Final[dict[tuple[str, str], str]] = {
    (country, code): admin1 for (country, admin1), (code, _) in REGIONS.items()
}

# Other ways people write a country (the ISO code, ISO3 code and GeoNames
# name are always accepted).
COUNTRY_ALIASES: Final[dict[str, tuple[str, ...]]] = {
    "US": ("USA", "U.S.", "U.S.A.", "United States of America", "America"),
    "GB": ("UK", "U.K.", "Great Britain", "Britain"),
    "NL": ("Netherlands", "Holland"),
    "KR": ("Korea", "Republic of Korea"),
    "CZ": ("Czech Republic",),
    "CI": ("Cote d'Ivoire",),
    "AE": ("UAE",),
    "TR": ("Turkiye",),
    "SZ": ("Swaziland",),
    "MK": ("Macedonia",),
    "CV": ("Cape Verde",),
    "MM": ("Burma",),
    "PS": ("Palestine",),
    "VA": ("Vatican City",),
    "CD": ("DRC", "DR Congo"),
    "RU": ("Russian Federation",),
}

# Letters NFKD does not split into base letter + accent, and apostrophe-like
# marks, which vanish ("St. John's" -> "st johns").
_FOLDS: Final[dict[str, str]] = {
    "ß": "ss",
    "ø": "o",
    "Ø": "o",
    "æ": "ae",
    "Æ": "ae",
    "œ": "oe",
    "Œ": "oe",
    "ł": "l",
    "Ł": "l",
    "đ": "d",
    "Đ": "d",
    "ð": "d",
    "Ð": "d",
    "þ": "th",
    "Þ": "th",
    "ı": "i",
    "ħ": "h",
    "Ħ": "h",
    "\u00b4": "",  # acute accent
    "\u2018": "",  # left single quotation mark
    "\u2019": "",  # right single quotation mark
    "\u02b9": "",  # modifier letter prime
    "\u02bb": "",  # modifier letter turned comma (Hawaiian okina)
    "\u02bc": "",  # modifier letter apostrophe
    "'": "",
    "`": "",
}
_FOLD_TABLE: Final = str.maketrans(_FOLDS)
_NEEDS_FOLD: Final = re.compile("[" + re.escape("".join(_FOLDS)) + "]")
# Accents and other marks left over by NFKD (Latin, Greek, Cyrillic, Hebrew, Arabic).
_MARKS: Final = re.compile(
    "[\u0300-\u036f\u0483-\u0489\u0591-\u05c7\u0610-\u061a\u064b-\u065f\u0670"
    "\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]"
)
# Any other run of non-word characters becomes one space.
_NON_WORD: Final = re.compile(r"[\W_]+")
# Word forms that are written both ways; names are compared in short form.
_SHORT_FORMS: Final[dict[str, str]] = {
    "saint": "st",
    "sainte": "ste",
    "mount": "mt",
    "fort": "ft",
}


def normalize(text: str) -> str:
    """Fold ``text`` for comparison: no case, accents or punctuation.

    ``"  São-Paulo "`` becomes ``"sao paulo"``, ``"Zürich"`` ``"zurich"`` and
    ``"St. John's"`` ``"st johns"``.
    """
    if text.isascii():
        folded = text.lower()
        if "'" in folded or "`" in folded:
            folded = folded.replace("'", "").replace("`", "")
    else:
        if _NEEDS_FOLD.search(text):
            text = text.translate(_FOLD_TABLE)
        folded = unicodedata.normalize("NFKD", text)
        if not folded.isascii():
            folded = _MARKS.sub("", folded)
        folded = folded.casefold()
    return _NON_WORD.sub(" ", folded).strip()


def short_form(key: str) -> str:
    """Rewrite words with a usual short form: ``"saint paul"`` -> ``"st paul"``."""
    if "saint" not in key and "mount" not in key and "fort" not in key:
        return key
    return " ".join(_SHORT_FORMS.get(word, word) for word in key.split(" "))


def name_key(text: str) -> str:
    """The key names are matched on exactly: normalized, in short form."""
    return short_form(normalize(text))


def qualifier_key(text: str) -> str:
    """Key for a region or country qualifier: normalized, no leading "the", no spaces.

    Dropping the spaces makes ``"D.C."`` equal ``"DC"`` and ``"U.S.A."`` equal
    ``"USA"``.
    """
    key = normalize(text)
    if key.startswith("the "):
        key = key[4:]
    return key.replace(" ", "")
