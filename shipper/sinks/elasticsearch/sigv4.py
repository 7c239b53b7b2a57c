"""AWS Signature Version 4 on every request to Amazon OpenSearch Service (`es`) or
OpenSearch Serverless (`aoss`): an `httpx.Auth`, so the one client signs everything.

The body is hashed (`x-amz-content-sha256`, which Serverless requires), so a signed
request's body is read whole before it is sent rather than streamed piece by piece.
Only `host`, `content-type` and the `x-amz-*` headers are signed: a proxy that rewrites
`Connection` or `Accept-Encoding` on the way does not break the signature. The query
goes to the signer decoded, which encodes it as SigV4 says (`*` and `,` as %2A, %2C)
whatever httpx put in the URL. The signing itself is botocore's.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncGenerator, Generator

import httpx

from shipper.settings import Settings
from shipper.sinks.elasticsearch.aws_credentials import AwsCredentials

_SIGNED = ("content-type",)


class SigV4Auth(httpx.Auth):
    """Signs each request with the current credentials of `credentials`."""

    def __init__(self, credentials: AwsCredentials, region: str, service: str) -> None:
        self._credentials = credentials
        self._region = region
        self._service = service

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        from botocore.auth import SigV4Auth as Signer
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials

        found = await self._credentials.current()
        body = await request.aread()  # async_auth_flow is ours: httpx does not read it
        headers = {name: request.headers[name] for name in _SIGNED if name in request.headers}
        headers["host"] = request.url.netloc.decode("ascii")
        headers["x-amz-content-sha256"] = hashlib.sha256(body).hexdigest()
        unsigned = AWSRequest(
            method=request.method,
            url=str(request.url.copy_with(query=None)),
            params=list(request.url.params.multi_items()),
            data=body,
            headers=headers,
        )
        credentials = Credentials(found.access_key, found.secret_key, found.token)
        Signer(credentials, self._service, self._region).add_auth(unsigned)
        for name, value in unsigned.headers.items():
            if name.lower() != "host":
                request.headers[name] = value
        yield request

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response]:
        raise RuntimeError("SigV4Auth signs for the asynchronous client only")
        yield request  # pragma: no cover  (a generator, as httpx.Auth expects)


def sigv4_auth(settings: Settings) -> SigV4Auth:
    """The signer SHIPPER_ES_AWS_REGION and SHIPPER_ES_AWS_SERVICE ask for."""
    region = settings.es_aws_region or ""
    return SigV4Auth(AwsCredentials(region), region, settings.es_aws_service)
