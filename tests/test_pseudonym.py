"""Pseudonyms: stable per facility and key, different across facilities, never the name itself."""
from __future__ import annotations

import stat

from warehouse.pseudonym import load_key, pseudonymise


def test_key_is_created_once_and_private(tmp_path):
    k1 = load_key(tmp_path)
    assert load_key(tmp_path) == k1 and len(k1) == 32
    assert stat.S_IMODE((tmp_path / "secrets" / "pseudonym.key").stat().st_mode) == 0o600


def test_pseudonyms_are_stable_per_facility(tmp_path):
    key = load_key(tmp_path)
    a = pseudonymise(key, "JZ0001", "张 伟")
    assert a == pseudonymise(key, "JZ0001", " 张  伟 ")  # whitespace does not make a new person
    assert a != pseudonymise(key, "JZ0002", "张 伟")     # no linkage across facilities
    assert a != pseudonymise(b"another key" * 3, "JZ0001", "张 伟")
    assert a.startswith("P-") and len(a) == 12 and "张" not in a
    assert pseudonymise(key, "JZ0001", "  ") is None and pseudonymise(key, "JZ0001", None) is None
