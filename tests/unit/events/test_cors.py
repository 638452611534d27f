"""Which page origins a write key accepts, and how the allowlist is configured."""

from __future__ import annotations

import pytest

from onramp.collector.config import DEMO_WRITE_KEY, read_write_keys
from onramp.collector.cors import OriginPatternError, Origins, parse_pattern, preflight_headers
from onramp.settings import SettingsError, load_settings


@pytest.mark.parametrize(("patterns", "origin", "allowed"), [
    (("https://app.example.com",), "https://app.example.com", True),
    (("https://app.example.com",), "https://APP.example.com", True),
    (("https://app.example.com",), "https://app.example.com:443", True),
    (("https://app.example.com",), "http://app.example.com", False),  # another scheme is another origin
    (("https://app.example.com",), "https://app.example.com:8443", False),
    (("https://app.example.com",), "https://evil-app.example.com", False),
    (("https://*.example.com",), "https://eu.app.example.com", True),
    (("https://*.example.com",), "https://example.com", False),
    (("https://*.example.com",), "https://notexample.com", False),
    (("https://*.example.com",), "https://example.com.evil.net", False),
    (("http://127.0.0.1:8091",), "http://127.0.0.1:8091", True),
    (("http://127.0.0.1:8091",), "http://127.0.0.1:8092", False),
    (("https://app.example.com",), "null", False),  # sandboxed frames and file: pages
    (("*",), "null", True),
    ((), "https://app.example.com", False),
])
def test_origin_matching(patterns, origin, allowed):
    assert Origins(patterns).allows(origin) is allowed


@pytest.mark.parametrize("bad", ["app.example.com", "https://app.example.com/path", "ftp://x.com",
                                 "https://user@x.com", "https://"])
def test_bad_patterns_say_how_to_write_one(bad):
    with pytest.raises(OriginPatternError, match="https://app.example.com"):
        parse_pattern(bad)


def test_preflight_allows_what_the_browser_sdks_send():
    headers = preflight_headers("https://app.example.com")
    assert headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert headers["Access-Control-Allow-Methods"] == "POST"
    for name in ("Authorization", "Content-Type", "Content-Encoding", "X-Retry-Count", "AnonymousId"):
        assert name in headers["Access-Control-Allow-Headers"]
    assert int(headers["Access-Control-Max-Age"]) > 0


def _settings(tmp_path, **env):
    return load_settings({f"ONRAMP_{k.upper()}": v for k, v in env.items()}, env_file=tmp_path / "none")


def test_demo_key_accepts_any_origin_and_real_keys_none_by_default(tmp_path):
    assert read_write_keys(_settings(tmp_path)) == ({DEMO_WRITE_KEY: "demo"}, {DEMO_WRITE_KEY: ("*",)})
    keys, origins = read_write_keys(_settings(tmp_path, collector_write_keys="k1=web"))
    assert keys == {"k1": "web"} and origins == {"k1": ()}


def test_keys_file_lists_origins_per_key_and_the_setting_is_the_default(tmp_path):
    path = tmp_path / "keys.yaml"
    path.write_text("server-key: backend\nweb-key:\n  source: web\n  allowed_origins: [https://app.example.com, "
                    "'https://*.example.org']\n")
    keys, origins = read_write_keys(_settings(tmp_path, collector_write_keys_file=str(path),
                                              collector_allowed_origins="https://www.example.com"))
    assert keys == {"server-key": "backend", "web-key": "web"}
    assert origins == {"server-key": ("https://www.example.com",),
                       "web-key": ("https://app.example.com", "https://*.example.org")}


def test_a_bad_origin_in_the_keys_file_names_the_source_not_the_secret(tmp_path):
    path = tmp_path / "keys.yaml"
    path.write_text("super-secret-key:\n  source: web\n  allowed_origins: [app.example.com]\n")
    with pytest.raises(SettingsError) as caught:
        read_write_keys(_settings(tmp_path, collector_write_keys_file=str(path)))
    assert "source web" in str(caught.value) and "super-secret-key" not in str(caught.value)
    assert "'app.example.com' is not an origin" in str(caught.value)


def test_a_bad_default_origin_names_the_setting(tmp_path):
    with pytest.raises(SettingsError, match="ONRAMP_COLLECTOR_ALLOWED_ORIGINS: 'example.com' is not an origin"):
        read_write_keys(_settings(tmp_path, collector_write_keys="k=web", collector_allowed_origins="example.com"))
