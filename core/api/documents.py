"""Parse and validate each distinct query text once per process.

Clients send the same few query texts over and over; parsing and validating one (with the
depth, alias and token limits) costs more than running it. A document that parsed and
validated is kept, keyed by its exact text, so later requests skip both steps. Only valid
documents are kept, the cache is bounded, and the limits' validation rules are built once
(strawberry's limiter extensions build a new rule class per request, which no cache can
key on).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator

from graphql import ASTValidationRule, DocumentNode
from strawberry.extensions import MaxAliasesLimiter, QueryDepthLimiter, SchemaExtension

__all__ = ["MAX_ALIASES", "MAX_DEPTH", "MAX_TOKENS", "DocumentCache", "clear"]

MAX_DEPTH = 12
MAX_ALIASES = 30
MAX_TOKENS = 4000
MAX_DOCUMENTS = 512  # distinct valid query texts kept per process

_RULES: tuple[type[ASTValidationRule], ...] = (
    *QueryDepthLimiter(max_depth=MAX_DEPTH).validation_rules,
    *MaxAliasesLimiter(max_alias_count=MAX_ALIASES).validation_rules,
)
_documents: OrderedDict[str, DocumentNode] = OrderedDict()


def clear() -> None:
    """Forget every cached document (tests)."""
    _documents.clear()


class DocumentCache(SchemaExtension):
    """The query limits (tokens at parse time, depth and aliases at validation), and the
    per-process cache of documents that passed them."""

    def __init__(self) -> None:
        self._hit = False

    def on_operation(self) -> Iterator[None]:
        ctx = self.execution_context
        ctx.parse_options["max_tokens"] = MAX_TOKENS
        ctx.validation_rules = ctx.validation_rules + _RULES
        yield

    def on_parse(self) -> Iterator[None]:
        ctx = self.execution_context
        if ctx.graphql_document is None and ctx.query:
            cached = _documents.get(ctx.query)
            if cached is not None:
                _documents.move_to_end(ctx.query)
                ctx.graphql_document = cached
                self._hit = True
        yield

    def on_validate(self) -> Iterator[None]:
        ctx = self.execution_context
        if self._hit:
            ctx.pre_execution_errors = []  # validated when it was cached
        yield
        valid = ctx.graphql_document is not None and ctx.pre_execution_errors == []
        if valid and not self._hit and ctx.query:
            _documents[ctx.query] = ctx.graphql_document  # type: ignore[assignment]
            if len(_documents) > MAX_DOCUMENTS:
                _documents.popitem(last=False)
