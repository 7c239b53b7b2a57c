"""Keeping secrets out of everything shipper prints: URLs with credentials, known values.

Every line that may quote a configured value (config errors, check-config, start-up
problems) goes through `redact`, so a password is never echoed, wherever it was put.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MASK = "***"
_SHORTEST = 3  # masking a one- or two-letter value everywhere would garble the line
# `user:password@` with or without a scheme before it (FLUENT_ELASTICSEARCH_HOST=u:p@es).
_USERINFO = re.compile(r"(?P<user>[^\s/@:'\"]*):(?P<password>[^\s/@'\"]*)@")


def mask_url(text: str) -> str:
    """`https://elastic:changeme@es:9200` -> `https://elastic:***@es:9200` (any URL in text)."""
    return _USERINFO.sub(lambda match: f"{match['user']}:{MASK}@", text)


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with URL passwords and each of `secrets` (stripped, or as repr shows it) masked."""
    text = mask_url(text)
    forms = {form for raw in secrets for s in (raw, raw.strip()) for form in (s, repr(s)[1:-1])}
    for secret in sorted(forms, key=len, reverse=True):
        if len(secret) >= _SHORTEST:
            text = text.replace(secret, MASK)
    return text
