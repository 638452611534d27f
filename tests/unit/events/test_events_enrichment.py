"""Enrichment: user agent, offline IP geo, campaign and referrer."""

from __future__ import annotations

from onramp.collector.enrichment import FIELDS, Enricher, GeoLookup, campaign, parse_user_agent, referrer_type


def test_user_agent_to_browser_os_device():
    iphone = parse_user_agent("Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
                              "(KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1")
    assert (iphone["browser"], iphone["os"], iphone["os_version"], iphone["device"]) == (
        "Mobile Safari", "iOS", "17.1", "iPhone")
    assert parse_user_agent("definitely not a browser")["browser"] in (None, "Other")


def test_ip_geo_is_offline_and_ignores_private_addresses():
    geo = GeoLookup()
    assert geo.path and geo.lookup("81.2.69.160") == {"country": "GB", "region": "England", "city": "London"}
    assert geo.lookup("10.1.2.3") == {"country": None, "region": None, "city": None}
    assert geo.lookup("not-an-ip")["country"] is None


def test_campaign_from_page_url_or_context_campaign():
    context = {"page": {"url": "https://app.example.com/?utm_source=google&utm_medium=cpc&utm_campaign=spring",
                        "referrer": "https://www.linkedin.com/feed"}}
    found = campaign(context)
    assert (found["utm_source"], found["utm_medium"], found["utm_campaign"]) == ("google", "cpc", "spring")
    assert (found["referrer_host"], found["referrer_type"]) == ("www.linkedin.com", "social")
    overridden = campaign({**context, "campaign": {"source": "newsletter", "name": "winter"}})
    assert (overridden["utm_source"], overridden["utm_campaign"], overridden["utm_medium"]) == (
        "newsletter", "winter", "cpc")


def test_referrer_types():
    assert referrer_type("www.google.com", "app.example.com") == "search"
    assert referrer_type("mail.google.com", None) == "email"
    assert referrer_type("app.example.com", "app.example.com") == "internal"
    assert referrer_type("news.example.org", None) == "other"
    assert referrer_type(None, None) is None


def test_enricher_returns_every_field_in_order():
    values = Enricher().enrich({"campaign": {"source": "x"}}, "81.2.69.160", None)
    assert len(values) == len(FIELDS)
    as_dict = dict(zip(FIELDS, values, strict=True))
    assert as_dict["country"] == "GB" and as_dict["utm_source"] == "x" and as_dict["browser"] is None
