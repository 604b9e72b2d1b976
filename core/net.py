"""Outbound HTTP made on a tenant's behalf, guarded against server-side request forgery.

A tenant decides where some of the server's calls go: a connection's ``baseUrl``, and URLs
in its settings (an SQS queue, a token endpoint). Left alone, that lets any tenant make the
server call its own loopback interface, the private network behind it, or the cloud's
metadata service (``169.254.169.254``). Two guards close it, both driven by one
:class:`OutboundPolicy` built from the operator's allow-list (``CROSSDOCK_ALLOWED_HOSTS``):

* **When a URL is stored** (:meth:`OutboundPolicy.check_url`): ``https`` only (``http`` only
  to an allow-listed host), no credentials, query or fragment in it, at most
  :data:`MAX_URL_LENGTH` characters, and no literal address that is not public, in any
  spelling (``127.1``, ``2130706433``, ``0x7f000001``, ``[::ffff:127.0.0.1]``), nor a name
  that is local by definition (``localhost``, ``*.internal``, a single label). A refusal is a
  :class:`~crossdock.errors.UserError` with code ``URL_NOT_ALLOWED``.
* **When a call is made** (:class:`OutboundHTTP`, the one HTTP client every provider uses,
  through :meth:`crossdock.ChannelConnection.http_client`): every request is checked for its
  scheme, and every new TCP connection resolves the host itself and connects only to an
  address the policy allows, so a name that resolves to ``127.0.0.1``, a redirect to an
  internal host, and DNS rebinding between the check and the connection are all refused.
  A refusal raises :class:`URLNotAllowed`, a permanent :class:`~crossdock.errors.ChannelError`:
  the job records it on the connection's ``lastError`` and stops calling.

Refused by default: loopback, private (RFC 1918, CGNAT ``100.64/10``, benchmarking),
link-local (``169.254/16``, ``fe80::/10``), unique-local IPv6 (``fc00::/7``), site-local,
unspecified (``0.0.0.0``, ``::``), multicast, broadcast and reserved addresses, and IPv6
forms that embed an IPv4 address (IPv4-mapped ``::ffff:a.b.c.d``, 6to4 ``2002::/16``,
NAT64 ``64:ff9b::/96``) whenever the embedded address would be refused.

Allow-list entries (comma-separated): a host name (``emulator.test``), a wildcard
(``*.sandbox.test``), an address (``10.0.0.5``, ``::1``) or a network (``10.0.0.0/8``), each
optionally with a port (``127.0.0.1:8801``, ``[::1]:8801``, ``emulator.test:8080``). An
allowed name may resolve to any address; an allowed address or network may be reached by
any name that resolves into it; ``http`` is allowed to a host written in the URL as an
allowed name or address.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import re
import socket
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any

import httpcore
import httpx

from crossdock.errors import ChannelError, UserError

__all__ = [
    "DEFAULT_TIMEOUT",
    "MAX_URL_LENGTH",
    "OutboundHTTP",
    "OutboundPolicy",
    "URLNotAllowed",
    "default_outbound",
    "literal_address",
    "why_not_public",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Seconds an outbound call may take when the connection does not say (``settings.timeout``).
DEFAULT_TIMEOUT = 10.0
MAX_TIMEOUT = 120.0
#: The longest URL a tenant may store (the ``base_url`` column's size).
MAX_URL_LENGTH = 512

_NAT64 = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("64:ff9b:1::/48"))
_UNIQUE_LOCAL = ipaddress.IPv6Network("fc00::/7")
#: Names that never leave the machine or the site (RFC 6761, RFC 6762, RFC 8375, ICANN 2024).
_LOCAL_SUFFIXES = (".localhost", ".local", ".internal", ".home.arpa", ".localdomain")
_INET_ATON = re.compile(r"(?:0[xX][0-9a-fA-F]*|[0-9]+)(?:\.(?:0[xX][0-9a-fA-F]*|[0-9]+)){0,3}")
_HINT = "calls go to public https hosts only, unless an operator allows more: CROSSDOCK_ALLOWED_HOSTS"
_HOST_LABEL = re.compile(r"(?!-)[a-z0-9_-]{1,63}(?<!-)")


class URLNotAllowed(ChannelError):
    """An outbound call to an address the server's policy refuses. Permanent: retrying
    cannot help until the URL or the allow-list changes."""

    code = "URL_NOT_ALLOWED"

    def __init__(self, message: str) -> None:
        super().__init__(message, code=self.code, retryable=False)


def literal_address(host: str) -> IPAddress | None:
    """The address a host *is*, if it is one, in every spelling a resolver accepts:
    dotted quads, IPv6 (bracketed or not, with a zone), and the legacy ``inet_aton`` forms
    (``127.1``, ``2130706433``, ``0x7f000001``, ``0177.0.0.1``) that ``getaddrinfo`` turns into
    addresses too. ``None`` for a host name."""
    host = host.strip().rstrip(".")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        pass
    if _INET_ATON.fullmatch(host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def why_not_public(ip: IPAddress) -> str | None:
    """What kind of address ``ip`` is when it is not a public one (``"loopback"``,
    ``"private"``, ...); ``None`` for a public address."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and any(ip in net for net in _NAT64):
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            kind = why_not_public(embedded)
            return f"{kind} (IPv4 {embedded} inside IPv6)" if kind else None
        if ip in _UNIQUE_LOCAL:
            return "unique-local"
        if ip.is_site_local:
            return "site-local"
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local (where cloud metadata services live)"
    if ip.is_multicast:
        return "multicast"
    if ip.is_reserved:
        return "reserved"
    if ip.is_private:
        return "private"
    if not ip.is_global:
        return "non-public"
    return None


def _a(phrase: str) -> str:
    vowel = phrase[:1] in "aeio" or phrase.startswith("uns")  # "a unique-local", "an unspecified"
    return f"{'an' if vowel else 'a'} {phrase}"


@dataclass(frozen=True)
class _Rule:
    """One allow-list entry: a host name (or ``*.suffix``) or an address network, and
    optionally the one port it is allowed on."""

    name: str | None = None
    network: IPNetwork | None = None
    port: int | None = None

    def allows_name(self, host: str, port: int) -> bool:
        if self.name is None or (self.port is not None and self.port != port):
            return False
        if self.name.startswith("*."):
            return host.endswith(self.name[1:])
        return host == self.name

    def allows_ip(self, ip: IPAddress, port: int) -> bool:
        if self.network is None or (self.port is not None and self.port != port):
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped and self.network.version == 4:
            ip = ip.ipv4_mapped
        return ip.version == self.network.version and ip in self.network


def _port(text: str, entry: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ValueError(f"allowed host {entry!r}: {text!r} is not a port")
    return int(text)


def _rule(entry: str) -> _Rule:
    text = entry.strip().lower()
    if "://" in text:
        text = text.split("://", 1)[1].rstrip("/")
    port: int | None = None
    if text.startswith("["):
        inside, bracket, rest = text[1:].partition("]")
        if not bracket:
            raise ValueError(f"allowed host {entry!r} lacks its closing bracket")
        if rest:
            if not rest.startswith(":"):
                raise ValueError(f"allowed host {entry!r} is not host, host:port, address or network")
            port = _port(rest[1:], entry)
        text = inside
    elif text.count(":") == 1:
        text, _, port_text = text.partition(":")
        port = _port(port_text, entry)
    try:
        return _Rule(network=ipaddress.ip_network(text, strict=False), port=port)
    except ValueError:
        pass
    literal = literal_address(text)
    if literal is not None:
        return _Rule(network=ipaddress.ip_network(literal), port=port)
    name = text.rstrip(".")
    labels = name[2:].split(".") if name.startswith("*.") else name.split(".")
    if not name or not all(_HOST_LABEL.fullmatch(label) for label in labels):
        raise ValueError(f"allowed host {entry!r} is not host, host:port, address or network")
    return _Rule(name=name, port=port)


def _default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80


class OutboundPolicy:
    """Which hosts and addresses the server may call on a tenant's behalf (see the module
    doc): public addresses over ``https``, plus what the operator allows."""

    def __init__(self, allowed: Iterable[str] = ()) -> None:
        self._rules: list[_Rule] = []
        for entry in allowed:
            self.allow(entry)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> OutboundPolicy:
        """The policy ``CROSSDOCK_ALLOWED_HOSTS`` describes (for code running outside an App)."""
        value = (os.environ if env is None else env).get("CROSSDOCK_ALLOWED_HOSTS", "")
        return cls(part for part in value.split(",") if part.strip())

    def allow(self, entry: str) -> None:
        """Add one allow-list entry (the demo allows each emulator it starts)."""
        self._rules.append(_rule(entry))

    @property
    def allowed(self) -> tuple[str, ...]:
        """The allow-list, one entry per rule (``host``, ``network``, ``[host]:port``)."""
        out = []
        for rule in self._rules:
            what = rule.name or str(rule.network)
            out.append(what if rule.port is None else f"[{what}]:{rule.port}")
        return tuple(out)

    def allows_host(self, host: str, port: int) -> bool:
        """The operator allowed this host, as written in a URL (a name or a literal address)."""
        host = host.lower().rstrip(".")
        literal = literal_address(host)
        if literal is not None:
            return any(rule.allows_ip(literal, port) for rule in self._rules)
        return any(rule.allows_name(host, port) for rule in self._rules)

    def allows_address(self, ip: IPAddress, host: str, port: int) -> bool:
        """The server may connect to ``ip`` (port ``port``), reached through ``host``."""
        if why_not_public(ip) is None:
            return True
        return self.allows_host(host, port) or any(rule.allows_ip(ip, port) for rule in self._rules)

    def refusal(self, url: httpx.URL) -> str | None:
        """Why a request to ``url`` may not be sent, judged before any connection; ``None``
        when it may be (its addresses are checked when it connects)."""
        scheme = url.scheme
        host = url.host
        if scheme not in ("http", "https"):
            return f"{scheme or 'a URL without a scheme'} is not an allowed scheme; use https"
        if not host:
            return "the URL has no host"
        port = url.port or _default_port(scheme)
        literal = literal_address(host)
        if literal is not None and not self.allows_address(literal, host, port):
            return f"{host} is {_a(why_not_public(literal) or 'refused')} address"
        if scheme == "http" and not self.allows_host(host, port):
            return f"http to {host} is not allowed; use https (or an operator allows the host)"
        return None

    def check_url(self, value: str, *, field: str = "baseUrl", query: bool = False) -> str:
        """Validate a URL a tenant stores (a base URL: scheme, host, port, path; with
        ``query``, a query too, as a webhook endpoint's may have); returns it, or raises
        ``UserError`` code ``URL_NOT_ALLOWED``."""

        def refuse(why: str) -> UserError:
            return UserError(f"this URL is not allowed: {why}", field=field, code="URL_NOT_ALLOWED")

        if not isinstance(value, str) or not value.strip():
            raise refuse("it is empty")
        if len(value) > MAX_URL_LENGTH:
            raise refuse(f"it is longer than {MAX_URL_LENGTH} characters")
        if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F or ch == "\\" for ch in value):
            raise refuse("it contains spaces, control characters or backslashes")
        if not value.isascii():
            raise refuse("it contains non-ASCII characters (write an IDN host in its xn-- form)")
        try:
            url = httpx.URL(value)
        except (httpx.InvalidURL, ValueError) as exc:
            raise refuse(f"it does not parse ({exc})") from None
        if url.userinfo or "@" in value.split("://", 1)[-1].split("/", 1)[0]:
            raise refuse("it carries credentials; put them in the connection's credentials")
        if "#" in value:
            raise refuse("a URL the server calls has no fragment")
        if not query and (url.query or "?" in value):
            raise refuse("a base URL has no query or fragment")
        why = self.refusal(url)
        if why:
            raise refuse(why)
        host = url.host.lower().rstrip(".")
        port = url.port or _default_port(url.scheme)
        if literal_address(host) is None and not self.allows_host(host, port):
            if host == "localhost" or host.endswith(_LOCAL_SUFFIXES):
                raise refuse(f"{host} is a local name")
            if "." not in host:
                raise refuse(f"{host} is not a public host name")
        return value

    async def connectable(self, host: str, port: int) -> list[str]:
        """The addresses of ``host`` the server may connect to, resolved now; raises
        :class:`URLNotAllowed` when it resolves only to refused ones."""
        literal = literal_address(host)
        if literal is not None:
            found: list[IPAddress] = [literal]
        else:
            try:
                infos = await asyncio.get_running_loop().getaddrinfo(
                    host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
                )
            except (socket.gaierror, UnicodeError) as exc:
                raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from None
            found = list(
                dict.fromkeys(ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos)
            )
        usable = [str(ip) for ip in found if self.allows_address(ip, host, port)]
        if not usable:
            kinds = sorted({why_not_public(ip) or "refused" for ip in found})
            what = "is" if literal is not None else "resolves to"
            raise URLNotAllowed(f"{host} {what} {_a(', '.join(kinds))} address ({_HINT})")
        return usable


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    """Opens TCP connections only to addresses the policy allows, resolving the host itself
    and connecting to the very address it checked (no second lookup to rebind)."""

    def __init__(self, policy: OutboundPolicy) -> None:
        self.policy = policy
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's signature)
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await self.policy.connectable(host, port)
        error: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        assert error is not None
        raise error

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's signature)
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise URLNotAllowed("outbound calls do not use unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport (its error mapping, TLS, pooling), with every request checked
    and every connection opened through :class:`_GuardedBackend`."""

    def __init__(self, policy: OutboundPolicy, limits: httpx.Limits) -> None:
        super().__init__(limits=limits, trust_env=False)
        self.policy = policy
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_GuardedBackend(policy),
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        why = self.policy.refusal(request.url)
        if why:
            raise URLNotAllowed(f"{why} ({_HINT})")
        return await super().handle_async_request(request)


def _no_cookies() -> httpx.Cookies:
    """Tenants share the pool: no cookie set for one may ride along on another's call."""
    return httpx.Cookies(CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])))


class OutboundHTTP:
    """The server's HTTP client for calls made on a tenant's behalf: one guarded connection
    pool per event loop, shared by every provider, closed by :meth:`aclose` at shutdown.

    ``client(timeout=...)`` hands out an ``httpx.AsyncClient`` over that pool (cheap; cached
    per timeout). Never close those clients: the pool belongs to the server.
    """

    def __init__(self, policy: OutboundPolicy | None = None, *, max_connections: int = 100) -> None:
        self.policy = policy or OutboundPolicy()
        self._limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=20)
        self._pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Pool] = weakref.WeakKeyDictionary()

    def _pool(self) -> _Pool:
        loop = asyncio.get_running_loop()
        pool = self._pools.get(loop)
        if pool is None:
            pool = self._pools[loop] = _Pool(_GuardedTransport(self.policy, self._limits))
        return pool

    def client(self, *, timeout: float | None = None) -> httpx.AsyncClient:
        """An ``httpx.AsyncClient`` over the shared, guarded pool of the running event loop
        (called outside one, as when a client object is built up front: a guarded client of
        its own, over a pool of its own)."""
        value = DEFAULT_TIMEOUT if timeout is None else float(timeout)
        value = min(max(value, 0.001), MAX_TIMEOUT) if value == value else DEFAULT_TIMEOUT
        try:
            pool = self._pool()
        except RuntimeError:  # no running event loop
            return self._new_client(_GuardedTransport(self.policy, self._limits), value)
        client = pool.clients.get(value)
        if client is None:
            client = pool.clients[value] = self._new_client(pool.transport, value)
        return client

    @staticmethod
    def _new_client(transport: _GuardedTransport, timeout: float) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=transport, timeout=timeout, cookies=_no_cookies(), trust_env=False)

    async def aclose(self) -> None:
        """Close the pools (those of this event loop; others' loops have ended, or close them
        themselves)."""
        pools, self._pools = dict(self._pools), weakref.WeakKeyDictionary()
        current = asyncio.get_running_loop()
        for loop, pool in pools.items():
            if loop is current:
                await pool.transport.aclose()


class _Pool:
    """One event loop's guarded transport, and the clients (one per timeout) over it."""

    def __init__(self, transport: _GuardedTransport) -> None:
        self.transport = transport
        self.clients: dict[float, httpx.AsyncClient] = {}


_default: OutboundHTTP | None = None


def default_outbound() -> OutboundHTTP:
    """The guarded client of code running outside a server (scripts, a provider called
    directly): the policy ``CROSSDOCK_ALLOWED_HOSTS`` describes. A server hands its own to
    providers on :class:`~crossdock.ChannelConnection`."""
    global _default
    if _default is None:
        _default = OutboundHTTP(OutboundPolicy.from_env())
    return _default
