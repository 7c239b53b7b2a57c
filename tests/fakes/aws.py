"""AWS for the tests, on 127.0.0.1: credentials, the STS and container-credentials endpoints
that hand them out, and a SigV4 check written from the specification alone.

`check_sigv4` does not use botocore (which shipper signs with): it follows the steps of
"Create a signed AWS API request" (docs.aws.amazon.com/IAM/latest/UserGuide/
create-signed-request.html): canonical request, string to sign, signing key, signature.
The answers copy Amazon OpenSearch Service's: 403 with {"message": ...} for a bad
signature, an unknown key and an expired token; STS AssumeRoleWithWebIdentity answers
XML (docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRoleWithWebIdentity.html), the
container credentials endpoint JSON with AccessKeyId, SecretAccessKey, Token, Expiration.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote

from tests.fakes.es_server import RequestLog

ALGORITHM = "AWS4-HMAC-SHA256"
MAX_SKEW = timedelta(minutes=15)
BAD_SIGNATURE = (
    "The request signature we calculated does not match the signature you provided. Check "
    "your AWS Secret Access Key and signing method. Consult the service documentation for "
    "details."
)


@dataclass
class Issued:
    secret: str
    token: str | None
    expires: datetime | None


@dataclass
class AwsAccount:
    """The keys AWS knows, for one region and service; issues temporary ones on demand."""

    region: str
    service: str
    keys: dict[str, Issued] = field(default_factory=dict)
    _serial: Iterator[int] = field(default_factory=itertools.count)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def long_term(self) -> tuple[str, str]:
        """An IAM user's access key and secret (no session token, no expiry)."""
        with self._lock:
            n = next(self._serial)
            key, secret = f"AKIAFAKE{n:012d}", f"secret/{n}+long"
            self.keys[key] = Issued(secret, None, None)
        return key, secret

    def temporary(self, lifetime: timedelta) -> tuple[str, str, str, datetime]:
        """A session: key, secret, token and when it expires."""
        with self._lock:
            n = next(self._serial)
            key, secret, token = f"ASIAFAKE{n:012d}", f"secret/{n}+temp", f"token-{n}"
            expires = (datetime.now(UTC) + lifetime).replace(microsecond=0)
            self.keys[key] = Issued(secret, token, expires)
        return key, secret, token, expires

    def check(self, request: RequestLog) -> str | None:
        """Why AWS would refuse this request's signature (None: it is valid)."""
        return check_sigv4(request, self.region, self.service, self.keys)


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def _encode(text: str) -> str:
    """URI-encode every byte but the unreserved characters A-Z a-z 0-9 - _ . ~"""
    return quote(text, safe="-_.~")


def check_sigv4(
    request: RequestLog, region: str, service: str, keys: Mapping[str, Issued]
) -> str | None:
    """The specification's steps, run as the server does; the refusal's message or None."""
    authorization = request.headers.get("authorization", "")
    if not authorization.startswith(ALGORITHM + " "):
        return "Missing Authentication Token"
    parts = dict(
        item.strip().split("=", 1) for item in authorization[len(ALGORITHM) + 1 :].split(",")
    )
    key, date, scope_region, scope_service, terminal = parts["Credential"].split("/")
    if (scope_region, scope_service, terminal) != (region, service, "aws4_request"):
        return f"Credential should be scoped to a valid region and service: {parts['Credential']}"
    issued = keys.get(key)
    if issued is None:
        return "The security token included in the request is invalid."
    stamp = request.headers.get("x-amz-date", "")
    when = datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    now = datetime.now(UTC)
    if abs(now - when) > MAX_SKEW or not stamp.startswith(date):
        return "Signature expired: the request's date is too far from the server's"
    if issued.expires is not None and now >= issued.expires:
        return "The security token included in the request is expired"
    if request.headers.get("x-amz-security-token") != issued.token:
        return "The security token included in the request is invalid."
    signed = parts["SignedHeaders"].split(";")
    if "host" not in signed or "x-amz-date" not in signed:
        return BAD_SIGNATURE
    payload = hashlib.sha256(request.wire_body).hexdigest()
    if request.headers.get("x-amz-content-sha256", payload) != payload:
        return "The provided x-amz-content-sha256 header does not match what was computed."
    canonical = _canonical_request(request, parts["SignedHeaders"], payload)
    scope = f"{date}/{region}/{service}/aws4_request"
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    to_sign = f"{ALGORITHM}\n{stamp}\n{scope}\n{digest}"
    signing_key = _hmac(
        _hmac(_hmac(_hmac(f"AWS4{issued.secret}".encode(), date), region), service),
        "aws4_request",
    )
    expected = hmac.new(signing_key, to_sign.encode(), hashlib.sha256).hexdigest()
    return None if hmac.compare_digest(expected, parts["Signature"]) else BAD_SIGNATURE


def _canonical_request(request: RequestLog, signed_headers: str, payload: str) -> str:
    """The canonical request SigV4 signs: method, path, sorted query, signed headers."""
    return "\n".join(
        [
            request.method,
            "/".join(_encode(segment) for segment in request.path.split("/")) or "/",
            "&".join(
                f"{_encode(k)}={_encode(v)}"
                for k, v in sorted(request.query.items(), key=lambda kv: _encode(kv[0]))
            ),
            "".join(
                f"{name}:{' '.join(request.headers.get(name, '').split())}\n"
                for name in signed_headers.split(";")
            ),
            signed_headers,
            payload,
        ]
    )


def _sts_answer(key: str, secret: str, session: str, expires: datetime) -> bytes:
    """STS's AssumeRoleWithWebIdentity answer handing out one session."""
    xml = (
        '<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/'
        '2011-06-15/"><AssumeRoleWithWebIdentityResult>'
        "<SubjectFromWebIdentityToken>system:serviceaccount:logging:shipper"
        "</SubjectFromWebIdentityToken><Audience>sts.amazonaws.com</Audience>"
        "<AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/shipper/s"
        "</Arn><AssumedRoleId>AROAFAKE:s</AssumedRoleId></AssumedRoleUser>"
        f"<Credentials><SessionToken>{session}</SessionToken>"
        f"<SecretAccessKey>{secret}</SecretAccessKey>"
        f"<Expiration>{expires:%Y-%m-%dT%H:%M:%SZ}</Expiration>"
        f"<AccessKeyId>{key}</AccessKeyId></Credentials>"
        "<Provider>arn:aws:iam::123456789012:oidc-provider/oidc.eks.fake</Provider>"
        "</AssumeRoleWithWebIdentityResult><ResponseMetadata><RequestId>"
        "0f5c7f4e-0000-4000-8000-000000000000</RequestId></ResponseMetadata>"
        "</AssumeRoleWithWebIdentityResponse>"
    )
    return xml.encode()


class _EndpointServer(ThreadingHTTPServer):
    endpoints: CredentialEndpoints


class _EndpointHandler(BaseHTTPRequestHandler):
    """STS on POST, the container credentials endpoint on GET."""

    server: _EndpointServer

    def do_POST(self) -> None:
        endpoints = self.server.endpoints
        length = int(self.headers.get("Content-Length") or 0)
        form = parse_qs(self.rfile.read(length).decode())
        action = form.get("Action", [""])[0]
        given = form.get("WebIdentityToken", [""])[0]
        if action != "AssumeRoleWithWebIdentity" or given != endpoints.token:
            endpoints.refused += 1
            self._send(
                400,
                b"<ErrorResponse><Error><Code>InvalidIdentityToken</Code></Error></ErrorResponse>",
                "text/xml",
            )
            return
        self._send(200, _sts_answer(*endpoints.issue()), "text/xml")

    def do_GET(self) -> None:
        endpoints = self.server.endpoints
        if self.headers.get("Authorization") != endpoints.token:
            endpoints.refused += 1
            self._send(401, b'{"code":"AccessDeniedException"}', "application/json")
            return
        key, secret, session, expires = endpoints.issue()
        body = {
            "AccessKeyId": key,
            "SecretAccessKey": secret,
            "Token": session,
            "AccountId": "123456789012",
            "Expiration": f"{expires:%Y-%m-%dT%H:%M:%SZ}",
        }
        self._send(200, json.dumps(body).encode(), "application/json")

    def _send(self, status: int, body: bytes, kind: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


class CredentialEndpoints:
    """STS (AssumeRoleWithWebIdentity, as IRSA uses it) and EKS Pod Identity's container
    credentials endpoint, on one 127.0.0.1 port; each hands out `lifetime` sessions."""

    def __init__(self, account: AwsAccount, lifetime: timedelta, *, token: str) -> None:
        self.account = account
        self.lifetime = lifetime
        self.token = token  # the web identity / pod identity token it expects
        self.issued: list[str] = []  # access keys handed out, in order
        self.refused = 0
        self._server = _EndpointServer(("127.0.0.1", 0), _EndpointHandler)
        self._server.endpoints = self
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def issue(self) -> tuple[str, str, str, datetime]:
        """A new temporary session, its key remembered in `issued`."""
        key, secret, session, expires = self.account.temporary(self.lifetime)
        self.issued.append(key)
        return key, secret, session, expires

    def __enter__(self) -> CredentialEndpoints:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


def isolated_env() -> dict[str, str]:
    """Variables that keep the credential chain off this machine's files and off the
    instance metadata address: only what a test sets is found."""
    return {
        "AWS_CONFIG_FILE": "/nonexistent/aws-config",
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
