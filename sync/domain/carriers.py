"""Carrier names as warehouses write them -> the carrier values Google knows.

Google accepts free text, but only its listed values get tracking links and automatic status
updates, so we normalise everything we can and refuse what we cannot recognise: an unknown carrier
is far more often a typo than a new carrier, and the merchant can map it explicitly in the
``[shipments] carrier_aliases`` setting.
"""

from __future__ import annotations

import re
import unicodedata

# Google's supported values (Content API v2 OrderShipment.carrier), US then FR lists.
US_CARRIERS: tuple[str, ...] = (
    "ups", "usps", "fedex", "dhl", "ontrac", "dhl express", "deliv", "dynamex", "lasership", "mpx",
    "uds", "efw", "jd logistics", "yunexpress", "china post", "china ems", "singapore post",
    "pos malaysia", "postnl", "ptt", "eub", "chukou1", "bestex", "canada post", "purolator", "canpar",
    "india post", "blue dart", "delhivery", "dtdc", "tpc india",
)
FR_CARRIERS: tuple[str, ...] = (
    "la poste", "colissimo", "ups", "chronopost", "gls", "dpd", "bpost", "colis prive", "boxtal",
    "geodis", "tnt", "db schenker", "aramex",
)
GOOGLE_CARRIERS: tuple[str, ...] = tuple(dict.fromkeys(US_CARRIERS + FR_CARRIERS))

# Other common spellings (compared after _key(): lower case, accents/punctuation/spaces removed).
_EXTRA_SPELLINGS: dict[str, tuple[str, ...]] = {
    "ups": ("united parcel service", "ups ground", "ups next day air", "ups surepost",
            "ups mail innovations"),
    "usps": ("united states postal service", "us postal service", "u.s. mail", "us mail",
             "usps priority mail", "usps first class", "usps ground advantage"),
    "fedex": ("federal express", "fedex ground", "fedex home delivery", "fedex smartpost",
              "fedex express", "fdx"),
    "dhl": ("dhl ecommerce", "dhl global mail", "dhl parcel", "dhl paket"),
    "dhl express": ("dhl express worldwide", "dhl worldwide express"),
    "lasership": ("laser ship",),
    "uds": ("united delivery service",),
    "jd logistics": ("jd", "jingdong logistics"),
    "china ems": ("ems china",),
    "singapore post": ("singpost",),
    "canada post": ("postes canada",),
    "tpc india": ("the professional couriers",),
    "la poste": ("laposte",),
    "colis prive": ("colisprive",),
    "db schenker": ("schenker", "dbschenker"),
    "tnt": ("tnt express",),
}

# Service words a carrier name may carry after the carrier itself ("FedEx Ground", "UPS 2nd Day Air").
_SERVICE_WORDS = frozenset({
    "ground", "express", "air", "next", "day", "nextday", "2nd", "2day", "second", "two", "overnight",
    "priority", "mail", "first", "class", "firstclass", "standard", "economy", "international", "intl",
    "worldwide", "freight", "parcel", "parcels", "ecommerce", "saver", "smartpost", "surepost", "home",
    "delivery", "advantage", "domestic", "service", "services",
})


class UnknownCarrierError(ValueError):
    """A carrier name we cannot map to one of Google's values."""

    def __init__(self, name: str, accepted: tuple[str, ...] = GOOGLE_CARRIERS) -> None:
        self.name = name
        self.accepted = accepted
        what = "carrier is empty" if not name.strip() else f"unknown carrier {name!r}"
        example = name.strip() or "My Carrier"
        # The example maps to no real carrier: copied as it is, it must not ship via a wrong one.
        super().__init__(
            f"{what}: use one of Google's carrier names ({', '.join(accepted)}), or map it to the "
            "carrier it really is in the [shipments] carrier_aliases setting, e.g. "
            f'carrier_aliases = {{ "{example}" = "<one of the names above>" }}'
        )


def _key(name: str) -> str:
    """Comparison key: "U.S.P.S." -> "usps", "Colis Privé" -> "colisprive"."""
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^0-9a-z]", "", folded.casefold())


def _words(name: str) -> list[str]:
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    return [w for w in re.split(r"[^0-9a-z]+", folded.casefold()) if w]


_KNOWN: dict[str, str] = {}
for _carrier in GOOGLE_CARRIERS:
    _KNOWN[_key(_carrier)] = _carrier
for _carrier, _spellings in _EXTRA_SPELLINGS.items():
    for _spelling in _spellings:
        _KNOWN.setdefault(_key(_spelling), _carrier)


def _builtin(name: str) -> str | None:
    key = _key(name)
    if key in _KNOWN:
        return _KNOWN[key]
    # "FedEx Ground Economy": the longest known leading words, then service words only. Requiring
    # the rest to be service words keeps "Upsilon Freight" from becoming "ups".
    words = _words(name)
    for cut in range(len(words) - 1, 0, -1):
        head = "".join(words[:cut])
        if head in _KNOWN and all(w in _SERVICE_WORDS for w in words[cut:]):
            return _KNOWN[head]
    return None


def normalize_carrier(name: str, aliases: dict[str, str] | None = None) -> str:
    """Google's value for ``name``: "FedEx Ground" -> "fedex", "DHL Express" -> "dhl express".

    ``aliases`` (``[shipments] carrier_aliases``) win over the built-in spellings; an alias may map
    to a Google value (normalised again, so "FedEx" is fine) or, deliberately, to any other text,
    which is then sent to Google as-is. Raises UnknownCarrierError otherwise.
    """
    if not isinstance(name, str) or not name.strip():
        raise UnknownCarrierError(name if isinstance(name, str) else "")
    key = _key(name)
    for alias, target in (aliases or {}).items():
        if _key(alias) == key and target.strip():
            return _builtin(target) or target.strip()
    found = _builtin(name)
    if found is None:
        raise UnknownCarrierError(name)
    return found
