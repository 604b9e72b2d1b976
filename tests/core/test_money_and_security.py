"""Money never takes floats; credentials survive key rotation; keys are hashed."""

from __future__ import annotations

from decimal import Decimal

import pytest
from cryptography.fernet import Fernet

from crossdock.errors import CrossdockError, UserError
from crossdock.money import Money
from crossdock.security import Vault, generate_api_key, hash_secret, split_api_key


def test_money_rounds_to_minor_units() -> None:
    assert Money.of("10.005", "EUR").rounded() == Money(Decimal("10.00"), "EUR")  # half-even
    assert Money.of("10.015", "EUR").rounded() == Money(Decimal("10.02"), "EUR")
    assert Money.of("1200.4", "JPY").rounded().amount == Decimal("1200")
    assert Money.of("1.2345", "KWD").rounded().amount == Decimal("1.234")
    assert Money.of("1", "usd").currency == "USD"
    with pytest.raises(TypeError):
        Money.of(1.5, "EUR")  # type: ignore[arg-type]
    with pytest.raises(UserError):
        Money.of("1", "EURO")
    with pytest.raises(ValueError, match="cannot combine"):
        _ = Money.of("1", "EUR") + Money.of("1", "USD")


def test_vault_rotation_keeps_old_credentials_readable() -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    token = Vault([old]).encrypt({"refresh_token": "abc"})
    rotated_vault = Vault([new, old])
    assert rotated_vault.decrypt(token) == {"refresh_token": "abc"}
    rotated = rotated_vault.rotate(token)
    assert Vault([new]).decrypt(rotated) == {"refresh_token": "abc"}
    with pytest.raises(CrossdockError, match="cannot be decrypted"):
        Vault([new]).decrypt(token)
    with pytest.raises(CrossdockError, match="Fernet"):
        Vault(["not a key"])


def test_api_keys_are_random_and_only_hashed() -> None:
    a, b = generate_api_key(), generate_api_key()
    assert a.plaintext != b.plaintext
    assert a.key_hash == hash_secret(a.plaintext) and a.plaintext not in a.key_hash
    assert split_api_key(a.plaintext) == a.prefix
    assert split_api_key("cdk_short_x") is None
