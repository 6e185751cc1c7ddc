"""enrichers.tags.tags_for: mailing tags, plus the clicked link's for clicks."""
from __future__ import annotations

from enrichers.tags import tags_for
from tests.schemas.examples import mailing_tags, raw_event


def test_mailing_tags_for_an_open() -> None:
    assert tags_for(raw_event("open"), mailing_tags()) == ["newsletter", "campaign-1"]


def test_click_adds_the_link_tags_deduplicated_in_order() -> None:
    assert tags_for(raw_event("click"), mailing_tags()) == \
        ["newsletter", "campaign-1", "product-10"]
    assert tags_for(raw_event("click", link="l11"), mailing_tags()) == \
        ["newsletter", "campaign-1", "product-11"]


def test_click_without_known_link_id_falls_back_to_the_url() -> None:
    event = raw_event("click", link=None, url="https://shop.example.com/item/11")
    assert tags_for(event, mailing_tags()) == ["newsletter", "campaign-1", "product-11"]
    event = raw_event("click", link="gone", url="https://elsewhere.example/")
    assert tags_for(event, mailing_tags()) == ["newsletter", "campaign-1"]


def test_only_clicks_get_link_tags() -> None:
    assert tags_for(raw_event("open", link="l10"), mailing_tags()) == ["newsletter", "campaign-1"]


def test_unknown_mailing_or_missing_parts() -> None:
    assert tags_for(raw_event("click"), None) == []
    assert tags_for(raw_event("click"), {"id": "m1", "tags": []}) == []
    assert tags_for(raw_event("open"), {"id": "m1", "tags": ["a", "a", "b"]}) == ["a", "b"]


def test_tags_of_another_mailing_or_no_mailing_are_not_used() -> None:
    assert tags_for(raw_event("open", mailing="m2"), mailing_tags()) == []
    assert tags_for(raw_event("open", mailing=None), mailing_tags()) == []
    assert tags_for(raw_event("update"), mailing_tags()) == []


def test_result_is_a_new_list() -> None:
    tags = mailing_tags()
    result = tags_for(raw_event("open"), tags)
    result.append("x")
    assert tags == mailing_tags()
