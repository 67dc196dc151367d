"""The import's address normaliser gives what email_validator gives, address by address."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from publisher.errors import InvalidAddress
from publisher.ledger.addresses import AddressNormaliser, normalise_email

ATOM = st.text("abcXYZ019_+-!#$%&'*/=?^`{|}~.\"", min_size=0, max_size=70)
DOMAINS = st.sampled_from([
    "example.org", "EXAMPLE.org", "Bücher.example", "mail.example.net", "localhost",
    "example", "exa_mple.org", "-bad.example.org", "x." + "a" * 250 + ".org", "[127.0.0.1]",
    "example.invalid", "ÉCOLE.example.fr", "a" * 64 + ".example.org",
])


def outcome(normalise, address: str) -> str:
    try:
        return normalise(address)
    except InvalidAddress as exc:
        return f"error: {exc}"


@settings(max_examples=400)
@given(st.lists(st.tuples(ATOM, DOMAINS), min_size=1, max_size=12))
def test_the_normaliser_agrees_with_normalise_email_on_every_address(pairs):
    normaliser = AddressNormaliser()  # one per list: later addresses use what earlier taught
    for local, domain in pairs:
        address = f"{local}@{domain}"
        assert outcome(normaliser, address) == outcome(normalise_email, address)


@pytest.mark.parametrize("address", [
    "a" * 64 + "@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 63 + ".org",  # over 254
    "a" * 65 + "@example.org",
    "ann@example.org ",
])
def test_long_and_untrimmed_addresses_agree_too(address):
    normaliser = AddressNormaliser()
    normaliser("first@" + address.rpartition("@")[2].strip())  # the domain is known
    assert outcome(normaliser, address) == outcome(normalise_email, address)
