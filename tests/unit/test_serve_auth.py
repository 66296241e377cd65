"""The API-key check itself: an empty credential is never a match (defence beside the settings check)."""

from __future__ import annotations

from pydantic import SecretStr

from hsctl.serve.app import _key_matches


def test_an_empty_credential_never_matches_even_an_empty_key():
    for key in ("", " ", "\t"):  # cannot come from settings (invalid there), e.g. a model_copy in a test or a script
        assert not _key_matches({}, SecretStr(key))
        assert not _key_matches({"x-api-key": ""}, SecretStr(key))
        assert not _key_matches({"authorization": "Bearer "}, SecretStr(key))
        assert not _key_matches({"x-api-key": key}, SecretStr(key))


def test_the_right_key_matches_in_either_header():
    assert _key_matches({"x-api-key": "k3y"}, SecretStr("k3y"))
    assert _key_matches({"authorization": "Bearer k3y"}, SecretStr("k3y"))
    assert not _key_matches({"x-api-key": "k3y!"}, SecretStr("k3y"))
    assert not _key_matches({}, SecretStr("k3y"))
