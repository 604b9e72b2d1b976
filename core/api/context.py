"""Per-request state: who is calling, one tenant-scoped session, the DataLoaders.

Resolvers run concurrently; an ``AsyncSession`` must not. Reads share one session per
request behind a lock (a request's statements would queue on one connection anyway), and
each mutation opens its own write transaction, a unit of work
(:mod:`crossdock.services.uow`): inside it, ``st.uow`` is what services that need the
plugins or the job queue take.

An HTTP request is authenticated once, when it arrives. A websocket lives far longer than
a key may: it keeps the credentials it authenticated with, pinned to the tenant they
reached, and :meth:`RequestState.reauthenticate` checks them again (before every operation
sent over it, and on every poll of a running subscription) through the same per-process
cache as an HTTP request, so a revoked key, a tenant taken off the key or a scope removed
takes effect there as fast as on HTTP.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.dataloader import DataLoader
from strawberry.types import Info

from crossdock.bootstrap import App
from crossdock.db.models import AuditActorKind
from crossdock.errors import Forbidden, Unauthenticated
from crossdock.services import audit, tenancy
from crossdock.services.tenancy import Principal
from crossdock.services.uow import UnitOfWork
from crossdock.storage import Storage

__all__ = ["RequestState", "state"]

K = TypeVar("K")
V = TypeVar("V")
CONTEXT_KEY = "crossdock"
#: The unit of work of the write transaction the running task is in (per task: resolvers
#: running concurrently each see their own).
_UOW: ContextVar[UnitOfWork | None] = ContextVar("crossdock_uow", default=None)


class RequestState:
    def __init__(
        self,
        app: App,
        principal: Principal | None,
        *,
        source_ip: str | None = None,
        user_agent: str | None = None,
    ) -> None:
        self.app = app
        self._principal = principal
        #: Where the request came from (the peer's address as the server sees it: behind a
        #: proxy, run the server with its proxy-headers option) and its User-Agent, for the
        #: audit log.
        self.source_ip = source_ip
        self.user_agent = user_agent
        self._session: AsyncSession | None = None
        self._lock = asyncio.Lock()
        self._loaders: dict[str, DataLoader[Any, Any]] = {}
        #: GraphQL objects made from rows, shared by every place that shows the same row
        #: (a page's orders all showing one connection); emptied with the loaders.
        self.converted: dict[Hashable, Any] = {}
        #: (Authorization, tenant slug) of a websocket, checked again by ``reauthenticate``.
        self._credentials: tuple[str, str] | None = None
        #: Why a websocket's key stopped being accepted (then it has no principal).
        self.refused: Unauthenticated | Forbidden | None = None

    def authenticate(self, principal: Principal, authorization: str | None = None) -> None:
        """Set the caller once (websockets authenticate after the context exists).

        ``authorization`` (a websocket's) is kept with the tenant it reached, for
        :meth:`reauthenticate`.
        """
        if self._principal is not None and self._principal != principal:
            raise Forbidden("this connection is already authenticated")
        self._principal = principal
        if authorization is not None:
            self._credentials = (authorization, principal.tenant_slug)

    async def reauthenticate(self) -> Principal:
        """Check a websocket's key again (cached like any request's): still valid, still
        reaching its tenant; its scopes as they are now. Raises :class:`Unauthenticated` or
        :class:`Forbidden` (and stays refused) when not. A no-op for HTTP requests."""
        if self._credentials is None:
            return self.principal
        if self.refused is not None:
            raise self._refusal()
        try:
            principal = await tenancy.authenticate(self.app.db, *self._credentials)
        except (Unauthenticated, Forbidden) as exc:
            self._principal = None
            self.refused = exc
            raise
        self._principal = principal
        return principal

    @property
    def storage(self) -> Storage:
        """The app's document storage (see :mod:`crossdock.storage`)."""
        return self.app.storage

    @property
    def caller(self) -> Principal | None:
        """The caller if known yet (a websocket authenticates after the context exists)."""
        return self._principal

    @property
    def principal(self) -> Principal:
        if self._principal is None:
            if self.refused is not None:
                raise self._refusal()
            raise Unauthenticated("this operation needs an API key")
        return self._principal

    def _refusal(self) -> Unauthenticated | Forbidden:
        assert self.refused is not None
        return type(self.refused)(self.refused.message)

    def require(self, scope: str) -> Principal:
        principal = self.principal
        if not principal.allows(scope):
            raise Forbidden(f"this API key lacks the {scope!r} scope")
        return principal

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        async with self._lock:
            if self._session is None:
                p = self.principal
                self._session = self.app.db.tenant(p.tenant_id, p.tenant_slug)
            yield self._session

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A write transaction (a unit of work, :attr:`uow` inside it); its jobs and hooks
        run once it has committed."""
        p = self.principal
        async with self.app.unit_of_work(p.tenant_id, p.tenant_slug) as uow:
            token = _UOW.set(uow)
            try:
                yield uow.session
            finally:
                _UOW.reset(token)
        if self._session is not None:
            async with self._lock:
                # later reads in this request see the change: the read session's transaction
                # (a snapshot on SQLite, begun by a read before this write) ends, and what it
                # loaded is expired
                await self._session.rollback()
            self._loaders.clear()
            self.converted.clear()

    def actor(self) -> audit.Actor:
        """The caller as the audit log records it: its API key or user, and where it called from."""
        p = self.principal
        return audit.Actor(
            AuditActorKind.USER if p.user_id is not None else AuditActorKind.API_KEY,
            id=p.user_id if p.user_id is not None else p.api_key_id,
            name=p.name,
            ip=self.source_ip,
            user_agent=self.user_agent,
        )

    @property
    def uow(self) -> UnitOfWork:
        """The unit of work of the write transaction open in this task (:meth:`write`)."""
        uow = _UOW.get()
        if uow is None:
            raise RuntimeError("no write transaction is open")
        return uow

    def loader(self, key: str, load: Callable[[list[K]], Awaitable[Sequence[V]]]) -> DataLoader[K, V]:
        """The request's DataLoader named ``key`` (created on first use)."""
        existing = self._loaders.get(key)
        if existing is None:
            existing = DataLoader(load_fn=load)
            self._loaders[key] = existing
        return existing

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def state(info: Info[Any, Any]) -> RequestState:
    return info.context[CONTEXT_KEY]  # type: ignore[no-any-return]
