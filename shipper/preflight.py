"""What `run` needs from the machine, checked before it starts (and by `check-config`).

The settings can be well-formed and still unusable: a state directory that cannot be
created, a CA file that is not PEM, a token file that cannot be read. Each problem is one
line naming the variable, the path and what to do, instead of a traceback at run time.
Warnings are what `run` survives (a missing token file, a glob matching nothing yet).
"""

from __future__ import annotations

import os
import re
import ssl
import stat
import tempfile
from dataclasses import dataclass, field

from shipper.settings import Settings
from shipper.sources.tail.positions import format_problem
from shipper.sources.tail.scan import Scanner, _fixed_prefix

_STATE_FILES = ("positions.json", "dead-letter.ndjson")


@dataclass
class Findings:
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def check_startup(settings: Settings, *, keep_state_dir: bool) -> Findings:
    """Every problem `run` would hit at start. `keep_state_dir`: leave the state directory
    created (run); otherwise (check-config) remove what the check created."""
    found = Findings()
    _state_dir(settings.state_dir, found, keep_state_dir)
    _tls_files(settings, found)
    if settings.kubernetes_enabled:
        _token_file(settings.kube_token_file, found)
    _globs(settings, found)
    return found


def _state_dir(path: str, found: Findings, keep: bool) -> None:
    where = f"SHIPPER_STATE_DIR={path!r}"
    if os.path.lexists(path) and not os.path.isdir(path):
        found.errors.append(f"{where}: not a directory: point it at a directory")
        return
    created = _make_dirs(path, where, found)
    if created is None:
        return
    try:
        fd, probe = tempfile.mkstemp(dir=path, prefix=".shipper-check-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        found.errors.append(f"{where}: cannot write in it ({exc.strerror}): make it writable")
    for name in _STATE_FILES:
        _state_file(os.path.join(path, name), found)
    if not keep:
        for directory in reversed(created):
            os.rmdir(directory)


def _make_dirs(path: str, where: str, found: Findings) -> list[str] | None:
    """Create `path` and its missing parents; the ones created, or None (reported)."""
    missing: list[str] = []
    parent = os.path.abspath(path)
    while not os.path.lexists(parent):
        missing.append(parent)
        parent = os.path.dirname(parent)
    created = []
    try:
        for directory in reversed(missing):
            os.mkdir(directory)
            created.append(directory)
    except OSError as exc:
        for directory in reversed(created):
            os.rmdir(directory)
        found.errors.append(
            f"{where}: cannot create the directory ({exc.strerror}): choose a writable place"
        )
        return None
    return created


def _state_file(path: str, found: Findings) -> None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        found.errors.append(f"{path}: cannot be read ({exc.strerror})")
        return
    if not stat.S_ISREG(st.st_mode):
        found.errors.append(f"{path}: not a regular file: move it away (shipper recreates it)")
    elif not os.access(path, os.R_OK | os.W_OK):
        found.errors.append(f"{path}: not readable and writable: fix its permissions")
    elif os.path.basename(path) == "positions.json" and (problem := format_problem(path)):
        found.errors.append(problem)


def _tls_files(settings: Settings, found: Findings) -> None:
    if settings.es_ca_file:
        _check_ca("SHIPPER_ES_CA_FILE", settings.es_ca_file, found)
    if settings.es_client_cert and settings.es_client_key:
        try:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.load_cert_chain(settings.es_client_cert, settings.es_client_key, _no_password)
        except (ssl.SSLError, OSError) as exc:
            found.errors.append(
                f"SHIPPER_ES_CLIENT_CERT={settings.es_client_cert!r}, SHIPPER_ES_CLIENT_KEY="
                f"{settings.es_client_key!r}: not a PEM certificate and its unencrypted "
                f"private key ({_reason(exc)})"
            )
    kube_ca = settings.kube_ca_file
    if settings.kubernetes_enabled and settings.kube_verify_tls and os.path.isfile(kube_ca):
        _check_ca("SHIPPER_KUBE_CA_FILE", kube_ca, found)


def _check_ca(name: str, path: str, found: Findings) -> None:
    try:
        ssl.create_default_context(cafile=path)
    except (ssl.SSLError, OSError) as exc:
        found.errors.append(f"{name}={path!r}: not a PEM CA certificate file ({_reason(exc)})")


def _no_password() -> bytes:
    """An encrypted key must fail to load, never make OpenSSL prompt on the terminal."""
    return b""


def _reason(exc: Exception) -> str:
    """OpenSSL's reason or the OS error, without ssl's `[SSL]` and `(_ssl.c:3905)` noise."""
    text = str(getattr(exc, "reason", None) or getattr(exc, "strerror", None) or exc)
    return re.sub(r"^\[\w+\] |\s*\(_ssl\.c:\d+\)$", "", text)


def _token_file(path: str, found: Findings) -> None:
    where = f"SHIPPER_KUBE_TOKEN_FILE={path!r}"
    try:
        with open(path, encoding="utf-8") as file:
            token = file.read().strip()
    except FileNotFoundError:
        found.warnings.append(
            f"{where}: no such file: the Kubernetes API will refuse requests without a token "
            "(401); mount the service-account token or set SHIPPER_KUBE_TOKEN_FILE"
        )
        return
    except (OSError, UnicodeDecodeError) as exc:
        found.errors.append(f"{where}: cannot be read ({_reason(exc)}): fix its permissions")
        return
    if not token:
        found.warnings.append(f"{where}: empty: requests to the Kubernetes API go without a token")
    elif any(char.isspace() for char in token):
        found.errors.append(
            f"{where}: holds several lines or words (not shown): a token is one word"
        )


def _globs(settings: Settings, found: Findings) -> None:
    """A glob that matches nothing is an error for --once (nothing to read), a warning for
    the agent, which keeps looking (kubelet may create the directory after it starts)."""
    where = "SHIPPER_PATHS (--path)"
    report = found.errors if settings.once else found.warnings
    missing = [pattern for pattern in settings.paths if not os.path.isdir(_fixed_prefix(pattern))]
    for pattern in missing:
        report.append(f"{where} {pattern!r}: the directory {_fixed_prefix(pattern)} does not exist")
    if missing:
        return
    matches = Scanner(settings).scan()
    if not matches:
        shown = ", ".join(settings.paths)
        report.append(
            f"{where}: no file matches {shown}" + (": nothing to read" if settings.once else "")
        )
    if settings.once:
        for match in matches.values():
            _readable(match.path, found)


def _readable(path: str, found: Findings) -> None:
    try:
        os.close(os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC))
    except OSError as exc:
        found.errors.append(
            f"{path}: cannot be read ({exc.strerror}): fix its permissions, or leave it out "
            "with --exclude"
        )
