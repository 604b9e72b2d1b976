"""Amazon passes the listings conformance suite against its emulator: product types as
categories, their JSON Schemas as rules, putListingsItem (with VALIDATION_PREVIEW),
getListingsItem, a quantity-0 patch to take a listing off sale, and getItemOffers."""

from __future__ import annotations

from crossdock_amazon.emulator import AmazonEmulator

from crossdock.testing.emulator import Faults
from crossdock.testing.listings import ListingsConformance


class TestAmazonListings(ListingsConformance):
    channel = "amazon"
    site = "US"

    def make_emulator(self, faults: Faults) -> AmazonEmulator:
        # the suite calls the provider on the connection as stored, with no refresh first
        # (jobs refresh on AUTH_EXPIRED): the account comes with an access token
        return AmazonEmulator(faults, open_with_token=True)
