"""AWS credentials for SigV4 (SHIPPER_ES_AWS_REGION), from the standard chain, kept fresh.

botocore (the `aws` extra: `pip install 'shipper[aws]'`) resolves the chain every AWS
SDK follows: the environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
`AWS_SESSION_TOKEN`), the web-identity token file IRSA mounts (`AWS_WEB_IDENTITY_TOKEN_FILE`
and `AWS_ROLE_ARN`, exchanged at STS), EKS Pod Identity's container credentials endpoint
(`AWS_CONTAINER_CREDENTIALS_FULL_URI` with `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`),
then profiles and the instance metadata service. Temporary credentials are refreshed
before they expire (botocore: 15 minutes ahead, and without fail 10 minutes ahead).
Resolving or refreshing may ask an endpoint: it runs in a thread, never in the event loop.
"""

from __future__ import annotations

import asyncio
import importlib.util
from typing import Any, NamedTuple

EXTRA_HINT = "the AWS signing library is not installed: pip install 'shipper[aws]'"


class NoAwsCredentials(Exception):
    """No source of the chain gave credentials; the message says where they are looked for."""


class Credentials(NamedTuple):
    """One consistent set: key id, secret, and the session token of temporary ones."""

    access_key: str
    secret_key: str
    token: str | None


def available() -> bool:
    """Whether the `aws` extra (botocore) is installed."""
    return importlib.util.find_spec("botocore") is not None


class AwsCredentials:
    """The process's AWS credentials, resolved on first use and refreshed before expiry."""

    def __init__(self, region: str) -> None:
        import botocore.session  # the `aws` extra; config checked that it is there

        session = botocore.session.Session()
        session.set_config_variable("region", region)
        self._resolver = session.get_component("credential_provider")
        self._found: Any = None  # botocore Credentials (RefreshableCredentials when temporary)
        self._lock = asyncio.Lock()

    async def current(self) -> Credentials:
        """Credentials valid for a while yet; NoAwsCredentials when the chain has none."""
        if self._found is None:
            async with self._lock:
                if self._found is None:
                    self._found = await asyncio.to_thread(self._resolver.load_credentials)
            if self._found is None:
                raise NoAwsCredentials(
                    "no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
                    "or use IRSA (AWS_WEB_IDENTITY_TOKEN_FILE, AWS_ROLE_ARN) or EKS Pod Identity "
                    "(AWS_CONTAINER_CREDENTIALS_FULL_URI)"
                )
        found = self._found
        if getattr(found, "refresh_needed", lambda: False)():
            frozen = await asyncio.to_thread(found.get_frozen_credentials)
        else:
            frozen = found.get_frozen_credentials()
        return Credentials(frozen.access_key, frozen.secret_key, frozen.token)
