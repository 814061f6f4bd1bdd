import pytest

from sync.domain.carriers import GOOGLE_CARRIERS, UnknownCarrierError, normalize_carrier


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("UPS", "ups"),
        ("United Parcel Service", "ups"),
        ("UPS 2nd Day Air", "ups"),
        ("ups ground", "ups"),
        ("U.S.P.S.", "usps"),
        ("USPS Priority Mail", "usps"),
        ("United States Postal Service", "usps"),
        ("FedEx Ground", "fedex"),
        ("Fed-Ex", "fedex"),
        ("Federal Express", "fedex"),
        ("FEDEX HOME DELIVERY", "fedex"),
        ("DHL", "dhl"),
        ("DHL Express", "dhl express"),
        ("dhl-express", "dhl express"),
        ("DHL Express Worldwide", "dhl express"),
        ("DHL eCommerce", "dhl"),
        ("OnTrac", "ontrac"),
        ("La Poste", "la poste"),
        ("laposte", "la poste"),
        ("Colissimo", "colissimo"),
        ("Colis Privé", "colis prive"),
        ("Chronopost", "chronopost"),
        ("DB Schenker", "db schenker"),
        ("Schenker", "db schenker"),
        ("  canada   post ", "canada post"),
        ("Blue Dart", "blue dart"),
        ("TNT Express", "tnt"),
    ],
)
def test_common_spellings(name, expected):
    assert normalize_carrier(name) == expected


@pytest.mark.parametrize("carrier", GOOGLE_CARRIERS)
def test_every_google_value_maps_to_itself(carrier):
    assert normalize_carrier(carrier) == carrier
    assert normalize_carrier(carrier.upper()) == carrier


@pytest.mark.parametrize("name", ["Acme Couriers", "Upsilon Freight", "FedEx Ground Zebra", "pigeon"])
def test_unknown_carrier_lists_accepted_names_and_the_setting(name):
    with pytest.raises(UnknownCarrierError) as info:
        normalize_carrier(name)
    message = str(info.value)
    assert repr(name) in message
    assert "[shipments] carrier_aliases" in message
    assert "dhl express" in message and "la poste" in message
    assert info.value.name == name


@pytest.mark.parametrize("name", ["", "   "])
def test_empty_carrier(name):
    with pytest.raises(UnknownCarrierError, match="carrier is empty"):
        normalize_carrier(name)


def test_aliases_take_precedence_and_are_normalised():
    aliases = {"Acme Couriers": "FedEx", "UPS": "dhl", "Local Van": "Bob's Vans"}
    assert normalize_carrier("ACME couriers", aliases) == "fedex"
    assert normalize_carrier("u.p.s.", aliases) == "dhl"  # config beats the built-in spelling
    assert normalize_carrier("local-van", aliases) == "Bob's Vans"  # deliberate free text kept
    assert normalize_carrier("FedEx Ground", aliases) == "fedex"  # built-ins still apply
    with pytest.raises(UnknownCarrierError):
        normalize_carrier("pigeon", aliases)
