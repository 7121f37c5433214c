"""Check that a workspace can transfer: node, TLS, proxy, token, rights, PACS, disk, secret, profile.

``run_checks`` returns one :class:`Check` per line of ``eucaim-ingest doctor`` (the web UI shows the
same list). The verdicts are pure functions of what was observed (``tls_check``, ``access_checks``,
``proxy_check``, ``disk_check``, …) so they can be tested without a network; the probes around
them do the IO. Target-specific checks sit behind one function per target kind (``TARGET_CHECKS``).
Nothing secret is shown: no token, no site secret, no password embedded in a proxy URL.
"""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import stat
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import httpx

from eucaim.deid.profile import load_profile
from eucaim.errors import ConfigError, EucaimError
from eucaim.ingest.config import WorkspaceConfig
from eucaim.ingest.state.states import InstanceState
from eucaim.ingest.targets import dicomweb_root
from eucaim.ingest.upload.http import build_client
from eucaim.ingest.workspace import SECRET_NAME, Workspace, read_secret

TIMEOUT_S = 10.0
MIN_FREE_BYTES = 1_000_000_000
CERT_EXPIRY_WARNING_DAYS = 30


@dataclass(frozen=True)
class Check:
    """One line of the checklist.

    ``ok`` False fails the doctor run. ``warning`` marks an ok line that needs attention soon;
    ``skipped`` an ok line that could not be checked because an earlier one failed or it does not
    apply. ``hint`` says what to do.
    """

    name: str
    ok: bool
    detail: str
    hint: str = ""
    warning: bool = False
    skipped: bool = False

    @property
    def status(self) -> str:
        """``failed``, ``warning``, ``skipped`` or ``ok``."""
        if not self.ok:
            return "failed"
        return "warning" if self.warning else "skipped" if self.skipped else "ok"


def _failed(name: str, exc: EucaimError) -> Check:
    message = exc.args[0] if exc.args else str(exc)
    return Check(name, False, str(message), exc.hint)


# -- pure verdicts ----------------------------------------------------------------------------------


def redact_url(url: str) -> str:
    """``url`` with any user name and password replaced by ``***``."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _bypasses_proxy(host: str, no_proxy: str) -> bool:
    for entry in (item.strip().lower() for item in no_proxy.split(",")):
        if not entry:
            continue
        if entry == "*":
            return True
        entry = entry.lstrip(".").removeprefix("*.")
        if host == entry or host.endswith("." + entry):
            return True
    return False


def proxy_check(env: Mapping[str, str], url: str) -> Check:
    """Which proxy, if any, requests to ``url`` go through (as httpx reads the environment)."""
    host = (urlsplit(url).hostname or "").lower()
    scheme = urlsplit(url).scheme
    names = ["HTTPS_PROXY", "https_proxy"] if scheme == "https" else ["HTTP_PROXY", "http_proxy"]
    names += ["ALL_PROXY", "all_proxy"]
    proxy = next(((name, env[name]) for name in names if env.get(name)), None)
    no_proxy = env.get("NO_PROXY") or env.get("no_proxy") or ""
    if proxy is None:
        return Check("proxy", True, f"none: direct connection to {host}")
    name, value = proxy
    shown = redact_url(value)
    if _bypasses_proxy(host, no_proxy):
        return Check("proxy", True, f"{name}={shown} is set, but NO_PROXY lists {host}: direct connection")
    detail = f"through {shown} (from {name})"
    if shown != value:
        detail += "; credentials in the proxy URL are hidden"
    return Check(
        "proxy",
        True,
        detail,
        hint="if the node cannot be reached, check the proxy or add the node to NO_PROXY",
    )


def tls_check(version: str | None, cert: Mapping[str, Any] | None, now: datetime) -> Check:
    """The negotiated TLS version and the node certificate's subject and expiry."""
    if version is None:
        return Check("TLS", True, "negotiated version not available", skipped=True)
    if version != "TLSv1.3":
        return Check(
            "TLS",
            False,
            f"negotiated {version}; EUCAIM requires TLS 1.3",
            hint="ask the node operator to enable TLS 1.3",
        )
    if not cert:
        return Check("TLS", True, "TLS 1.3 (certificate details not available)")
    subject = ", ".join(f"{key}={value}" for rdn in cert.get("subject", ()) for key, value in rdn)
    expires = datetime.fromtimestamp(ssl.cert_time_to_seconds(str(cert["notAfter"])), UTC)
    days = (expires - now).days
    detail = f"TLS 1.3, certificate {subject or '(no subject)'}, valid until {expires:%Y-%m-%d} ({days} days)"
    if days < CERT_EXPIRY_WARNING_DAYS:
        return Check(
            "TLS", True, detail, hint="the node's certificate expires soon; tell the operator", warning=True
        )
    return Check("TLS", True, detail)


def access_checks(status_code: int | None, biobank: str, *, write_status: int | None = None) -> list[Check]:
    """Token and biobank-rights lines from a QIDO ``studies?limit=1`` on the biobank.

    ``write_status`` is the status of an empty STOW request (which stores nothing): 403 means
    the account may read but not store; any other 4xx means it got past the rights check.
    """
    if status_code is None:
        return [
            Check("token", True, "not checked: the node cannot be reached", skipped=True),
            Check("biobank rights", True, "not checked: the node cannot be reached", skipped=True),
        ]
    token_ok = Check("token", True, "accepted by the node")
    if status_code == 200:
        if write_status == 403:
            return [
                token_ok,
                Check(
                    "biobank rights",
                    False,
                    f"can search biobank {biobank} but not store into it (403)",
                    hint=f"only a data ingester who manages {biobank} can push; ask the node administrator",
                ),
            ]
        return [token_ok, Check("biobank rights", True, f"can search and store into biobank {biobank}")]
    if status_code == 401:
        return [
            Check(
                "token",
                False,
                "the node refused the token (401): wrong, expired or revoked",
                hint="sign in again with `eucaim-ingest login` if the node uses OIDC; otherwise ask "
                "the node administrator for a new API token, then run "
                "`eucaim-ingest init … --token-file FILE` again",
            ),
            Check("biobank rights", True, "not checked: the token was refused", skipped=True),
        ]
    if status_code == 403:
        return [
            token_ok,
            Check(
                "biobank rights",
                False,
                f"the node refused access to biobank {biobank} (403)",
                hint=f"ask the node administrator to make your account a manager of {biobank}",
            ),
        ]
    if status_code == 404:
        return [
            token_ok,
            Check(
                "biobank rights",
                False,
                f"the node has no biobank {biobank} (404)",
                hint="check the biobank code, then run `eucaim-ingest init … --biobank CODE` again",
            ),
        ]
    return [
        Check(
            "token",
            False,
            f"the node answered {status_code} when asked for the biobank's studies",
            hint="try again later; if it persists, tell the node operator",
        ),
        Check("biobank rights", True, "not checked", skipped=True),
    ]


def disk_check(free_bytes: int, pending_bytes: int, folder: Path) -> Check:
    """Free space in the workspace against what de-identification will write (a copy per instance)."""
    wanted = max(MIN_FREE_BYTES, 2 * pending_bytes)
    detail = f"{free_bytes / 1e9:.1f} GB free in {folder}; {pending_bytes / 1e9:.2f} GB indexed and waiting"
    if free_bytes < pending_bytes:
        return Check(
            "disk space",
            False,
            detail,
            hint="the de-identified copies of what is waiting will not fit: free space or move the workspace",
        )
    if free_bytes < wanted:
        return Check(
            "disk space",
            True,
            detail,
            hint=f"keep at least {wanted / 1e9:.1f} GB free (twice the waiting data, at least 1 GB)",
            warning=True,
        )
    return Check("disk space", True, detail)


def secret_mode_check(path: Path, mode: int) -> Check:
    """Whether the site secret file is readable by its owner only."""
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        return Check(
            "site secret",
            False,
            f"{path} can be read by other users (mode {stat.S_IMODE(mode):03o})",
            hint=f"chmod 600 {path}",
        )
    return Check("site secret", True, f"{path} present, owner-only")


# -- probes -------------------------------------------------------------------------------------------


def _tls_of(response: httpx.Response) -> tuple[str | None, dict[str, Any] | None]:
    stream = response.extensions.get("network_stream")
    ssl_object = stream.get_extra_info("ssl_object") if stream is not None else None
    if ssl_object is None:
        return None, None
    return ssl_object.version(), ssl_object.getpeercert()


def _is_tls_error(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return True
        seen = seen.__cause__ or seen.__context__
    return "SSL" in str(exc) or "CERTIFICATE" in str(exc).upper()


def probe_node(client: httpx.Client, url: str, now: datetime) -> tuple[list[Check], bool]:
    """``GET /health``, and for https the TLS version and certificate seen on that connection.

    Returns the lines and whether the node answered at all.
    """
    is_https = url.startswith("https://")
    try:
        with client.stream("GET", "health") as response:
            version, cert = _tls_of(response)
            response.read()
    except httpx.TransportError as exc:
        if is_https and _is_tls_error(exc):
            return [
                Check("node reachable", False, f"{url}: TLS handshake failed", hint="see the TLS line"),
                Check(
                    "TLS",
                    False,
                    str(exc),
                    hint="the node must offer TLS 1.3 with a certificate this machine trusts; for a "
                    "private CA run `eucaim-ingest init … --ca-bundle CA.pem` again",
                ),
            ], False
        return [
            Check(
                "node reachable",
                False,
                f"{url}: {type(exc).__name__}: {exc}",
                hint="check the node URL, that the node runs, the network and firewall, and the proxy line",
            )
        ], False
    if response.status_code == 200:
        reach = Check("node reachable", True, f"{url}/health answered ok")
    else:
        reach = Check(
            "node reachable",
            False,
            f"{url}/health answered {response.status_code}: {response.text[:200]}",
            hint="the node is up but unwell; tell the node operator",
        )
    tls = tls_check(version, cert, now) if is_https else Check("TLS", True, "plain HTTP (loopback only)")
    return [reach, tls], True


def probe_access(client: httpx.Client, ws: Workspace) -> list[Check]:
    """Token and rights: a QIDO for one study of the biobank, then an empty STOW that stores nothing."""
    node = ws.config.node
    try:
        token = ws.token
    except ConfigError as exc:
        return [_failed("token", exc), Check("biobank rights", True, "not checked: no token", skipped=True)]
    root = dicomweb_root(node.url, node.biobank)
    auth = {"Authorization": f"Bearer {token}"}
    try:
        read = client.get(f"{root}/studies", params={"limit": "1"}, headers=auth)
        write_status = None
        if read.status_code == 200:
            # Not multipart/related: the node checks rights first, then refuses the body (415).
            write_status = client.post(
                f"{root}/studies", content=b"", headers={**auth, "Content-Type": "text/plain"}
            ).status_code
    except httpx.TransportError:
        return access_checks(None, node.biobank)
    return access_checks(read.status_code, node.biobank, write_status=write_status)


def eucaim_node_checks(
    ws: Workspace, *, env: Mapping[str, str], now: datetime, transport: httpx.BaseTransport | None
) -> list[Check]:
    """Checks of a EUCAIM reference node: reachability, TLS, proxy, token, rights on the biobank."""
    node = ws.config.node
    proxy = proxy_check(env, node.url)
    try:
        client = build_client(node.url, ca_bundle=ws.ca_bundle, timeout_s=TIMEOUT_S, transport=transport)
    except ConfigError as exc:
        return [_failed("node reachable", exc), proxy]
    with client:
        reach, answered = probe_node(client, node.url, now)
        access = probe_access(client, ws) if answered else access_checks(None, node.biobank)
    return [*reach, proxy, *access]


class TargetChecks(Protocol):
    """The checks of one target kind: reachability, TLS, proxy, credentials, rights, in that order."""

    def __call__(
        self, ws: Workspace, *, env: Mapping[str, str], now: datetime, transport: httpx.BaseTransport | None
    ) -> list[Check]: ...


# One function per target kind (NodeConfig.kind). XNAT checks plug in here; ``proxy_check``,
# ``probe_node``-style TLS inspection and ``tls_check`` serve any HTTPS target.
def _xnat_node_checks(
    ws: Workspace, *, env: Mapping[str, str], now: datetime, transport: httpx.BaseTransport | None
) -> list[Check]:
    # Imported here: the XNAT module builds on this one's Check and proxy_check.
    from eucaim.ingest.doctor_xnat import xnat_node_checks

    return xnat_node_checks(ws, env=env, now=now, transport=transport)


TARGET_CHECKS: dict[str, TargetChecks] = {"eucaim": eucaim_node_checks, "xnat": _xnat_node_checks}


def pacs_check(config: WorkspaceConfig) -> Check:
    """C-ECHO to the configured PACS (skipped when none is configured)."""
    if config.pacs is None:
        return Check(
            "PACS",
            True,
            "none configured",
            hint="optional: `eucaim-ingest pacs config` to query and retrieve from the PACS",
            skipped=True,
        )
    from eucaim.ingest.pacs_intake import pacs_config
    from eucaim.ingest.sources.pacs import PacsClient

    try:
        # A PACS behind a firewall that drops packets would otherwise hold the checklist 30 s.
        settings = pacs_config(config)
        client = PacsClient(replace(settings, timeout=min(settings.timeout, TIMEOUT_S)))
        elapsed = client.echo()
    except EucaimError as exc:
        return _failed("PACS", exc)
    cfg = client.config
    return Check(
        "PACS", True, f"C-ECHO to {cfg.called_aet} at {cfg.host}:{cfg.port} in {elapsed * 1000:.0f} ms"
    )


def receiver_port_check(config: WorkspaceConfig) -> Check | None:
    """Whether the C-MOVE receiver port can be listened on (``None`` when no port is configured)."""
    if config.pacs is None or config.pacs.receiver_port is None:
        return None
    port = config.pacs.receiver_port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("0.0.0.0", port))
        except OSError as exc:
            # A running `eucaim-ingest receive` holds it legitimately: attention, not failure.
            return Check(
                "receiver port",
                True,
                f"port {port} is in use ({exc.strerror})",
                hint="C-MOVE retrieves need it free: stop `eucaim-ingest receive` or whatever holds it",
                warning=True,
            )
    return Check(
        "receiver port",
        True,
        f"port {port} is free for C-MOVE; the PACS must reach this machine on it",
    )


def local_checks(ws: Workspace) -> list[Check]:
    """Disk space, site secret and de-identification profile."""
    checks = []
    pending = sum(row.size for row in ws.state.instances([InstanceState.PENDING]))
    checks.append(disk_check(shutil.disk_usage(ws.path).free, pending, ws.path))
    secret_path = ws.path / SECRET_NAME
    try:
        read_secret(secret_path)
        checks.append(secret_mode_check(secret_path, secret_path.stat().st_mode))
    except ConfigError as exc:
        checks.append(_failed("site secret", exc))
    try:
        profile = load_profile(ws.config.deid.profile)
        detail = f"{profile.name} version {profile.version} loads"
        checks.append(Check("de-identification profile", True, detail))
    except EucaimError as exc:
        checks.append(_failed("de-identification profile", exc))
    return checks


def run_checks(
    workspace: Path,
    *,
    env: Mapping[str, str] | None = None,
    now: datetime | None = None,
    transport: httpx.BaseTransport | None = None,
) -> list[Check]:
    """Every check for ``workspace``, in display order; never raises for what it checks.

    ``env`` defaults to the process environment (the proxy settings httpx will use), ``now`` to
    the clock; ``transport`` replaces the network in tests.
    """
    try:
        ws = Workspace.open(workspace)
    except EucaimError as exc:
        return [_failed("workspace", exc)]
    with ws:
        kind = ws.config.node.kind
        target = TARGET_CHECKS.get(kind)
        if target is None:
            checks = [Check("node", True, f"no checks for target kind {kind!r} yet", skipped=True)]
        else:
            checks = target(
                ws, env=os.environ if env is None else env, now=now or datetime.now(UTC), transport=transport
            )
        receiver = receiver_port_check(ws.config)
        pacs = [pacs_check(ws.config), *([receiver] if receiver else [])]
        return [*checks, *pacs, *local_checks(ws)]
