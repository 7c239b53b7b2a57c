import pytest

from shipper.redact import mask_url, redact


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://elastic:changeme@es:9200", "https://elastic:***@es:9200"),
        ("'http://u:p%40ss@[::1]:9200/x', 'http://a'", "'http://u:***@[::1]:9200/x', 'http://a'"),
        ("https://token@es:9200", "https://token@es:9200"),  # a user name alone is no secret
        ("http://es:9200/a@b", "http://es:9200/a@b"),
        ("no url here: a@b", "no url here: a@b"),
        ("FLUENT_ELASTICSEARCH_HOST='u:pw@es'", "FLUENT_ELASTICSEARCH_HOST='u:***@es'"),
        ("http://u:p:w@es", "http://u:***@es"),
    ],
)
def test_mask_url(text: str, expected: str) -> None:
    assert mask_url(text) == expected


def test_redact_masks_values_as_given_stripped_or_escaped_by_repr() -> None:
    secrets = ["s3cret\n", "ab"]
    assert redact("x='s3cret\\n' y=s3cret", secrets) == "x='***' y=***"
    assert redact("ab stays: too short to mask safely", secrets) == (
        "ab stays: too short to mask safely"
    )
