"""The page's signed cookie and key prompt (with --api-key)."""

from __future__ import annotations

from gte_ui.core.settings import Settings
from gte_ui.frontends.http.security.page_key import GradioApiGuard, key_prompt_html


def guard(key: str = "s3cret") -> GradioApiGuard:
    return GradioApiGuard(lambda *a: None, Settings(api_key=key), page_event=lambda i: i == 0, max_age_s=60)


def test_page_tokens_are_signed_by_the_key_and_expire():
    g = guard()
    token = g.page_token()
    assert g.valid_page_token(token)
    assert not g.valid_page_token(token[:-1] + ("0" if token[-1] != "0" else "1"))  # tampered
    assert not g.valid_page_token(g.page_token(issued=1))  # long expired
    assert not guard("other").valid_page_token(token)  # another key's server
    assert guard().valid_page_token(token)  # a replica with the same key accepts it
    assert "s3cret" not in token


def test_key_prompt_escapes_its_message():
    page = key_prompt_html("<script>x</script>").decode()
    assert "&lt;script&gt;" in page and "<script>x" not in page and 'action="unlock"' in page
