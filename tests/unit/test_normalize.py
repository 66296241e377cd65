from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hsctl.core.text import MENTION_RE, URL_RE, normalize_text
from hsctl.settings import NormalizeSettings


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("hi @bob see https://t.co/x?y=1 now", "hi @USER see HTTPURL now"),
        ("fish &amp;amp; chips &lt;3", "fish & chips <3"),
        ("ＦＵＬＬＷＩＤＴＨ text", "FULLWIDTH text"),
        ("  lots\t of \n space  ", "lots of space"),
        ("visit www.example.com/a.", "visit HTTPURL"),
        ("mail me at a@b.com", "mail me at a@b.com"),
        ("&#65313;", "A"),  # an entity that decodes to a fullwidth letter needs a second pass
    ],
)
def test_examples(raw: str, expected: str):
    assert normalize_text(raw) == expected


def test_each_step_can_be_switched_off():
    raw = "Hi @bob &amp; https://x.io  ok"
    off = NormalizeSettings(html_entities=False, urls=False, mentions=False, whitespace=False)
    assert normalize_text(raw, off) == raw
    assert normalize_text(raw, NormalizeSettings(lowercase=True)) == "hi @user & httpurl ok"
    custom = NormalizeSettings(url_token="<url>", mention_token="<user>")
    assert normalize_text(raw, custom) == "Hi <user> & <url> ok"


configs = st.builds(
    NormalizeSettings,
    html_entities=st.booleans(),
    unicode_nfkc=st.booleans(),
    urls=st.booleans(),
    mentions=st.booleans(),
    whitespace=st.booleans(),
    lowercase=st.booleans(),
)
tweetish = st.lists(
    st.one_of(
        st.text(max_size=12),
        st.sampled_from(
            ["@user_1", "http://a.b/c", "www.x.org", "&amp;", "&lt;", "&#65;", "＠ｆｏｏ", "\u00a0", "  ", "\t"]
        ),
    ),
    max_size=12,
).map("".join)


@settings(max_examples=300, deadline=None)
@given(text=tweetish, cfg=configs)
def test_idempotent(text: str, cfg: NormalizeSettings):
    once = normalize_text(text, cfg)
    assert normalize_text(once, cfg) == once


@settings(max_examples=200, deadline=None)
@given(text=tweetish)
def test_defaults_leave_no_urls_mentions_or_edge_spaces(text: str):
    out = normalize_text(text)
    assert not URL_RE.search(out)
    assert all(m.group(0) == "@USER" for m in MENTION_RE.finditer(out))
    assert out == out.strip()
    assert "  " not in out
