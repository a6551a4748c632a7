"""The members' stop links (instrument.panel.member_links): a token names its member and wave
and nothing else, any change to it is refused, another database's key refuses it, and rotating
the panel keys leaves the link key (so every link already sent) as it was."""

from __future__ import annotations

import pytest

from instrument.panel.crypto import PanelKeyError, PanelKeys, new_key
from instrument.panel.member_links import (
    LINK_SECRET,
    UNSUBSCRIBE_PREFIX,
    MemberLink,
    new_link_secret,
    open_link_key,
    read_unsubscribe_token,
    unsubscribe_path,
    unsubscribe_token,
)
from instrument.store import Store
from tests.panel_withdrawal_helpers import T0, panel_keys
from tests.store_fixtures import *


def _key(store: Store, keys: PanelKeys) -> bytes:
    stored = store.panel_secret(LINK_SECRET, create=lambda: new_link_secret(keys), now=T0)
    return open_link_key(keys, stored)


def test_a_token_names_its_member_and_wave_and_any_change_is_refused() -> None:
    keys = panel_keys()
    key = open_link_key(keys, new_link_secret(keys))
    token = unsubscribe_token(key, 1234, 7)
    assert unsubscribe_path(key, 1234, 7) == UNSUBSCRIBE_PREFIX + token
    assert read_unsubscribe_token(key, token) == MemberLink(1234, 7)
    assert read_unsubscribe_token(key, unsubscribe_token(key, 5)) == MemberLink(5, None)
    member, wave, mac = token.split(".")
    assert (member, wave, len(mac)) == ("1234", "7", 22)
    flipped = mac[:-1] + ("A" if mac[-1] != "A" else "B")
    for bad in (
        f"1235.{wave}.{mac}",  # another member
        f"{member}.8.{mac}",  # another wave
        f"{member}.0.{mac}",  # no wave
        f"{member}.{wave}.{flipped}",
        f"01234.{wave}.{mac}",  # not the one spelling of the id
        f"+1234.{wave}.{mac}",
        f"{member}.{wave}",
        f"{member}.{wave}.{mac}.",
        "",
        "1234.7." + "A" * 22,
    ):
        assert read_unsubscribe_token(key, bad) is None, bad
    another = open_link_key(keys, new_link_secret(keys))  # another database's key
    assert read_unsubscribe_token(another, token) is None
    with pytest.raises(ValueError):
        unsubscribe_token(key, 0)


def test_the_link_key_is_made_once_and_survives_key_rotation(store: Store) -> None:
    old = panel_keys()
    key = _key(store, old)
    assert _key(store, old) == key
    new = PanelKeys.parse([new_key(), *old.keys], source="INSTRUMENT_PANEL_KEYS")
    fernet = new.fernet()
    store.reseal_panel_data(
        lambda token: fernet.rotate(token.encode()).decode(), now=T0, actor="cli:rita"
    )
    only_new = PanelKeys.parse([new.keys[0]], source="INSTRUMENT_PANEL_KEYS")
    assert _key(store, only_new) == key
    with pytest.raises(PanelKeyError, match="member links"):
        _key(store, panel_keys())
