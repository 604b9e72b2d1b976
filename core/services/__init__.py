"""Services: plain async functions holding the business rules, one module per domain.

They take a session already scoped to a tenant (see :mod:`crossdock.db.scoping`), raise
:class:`crossdock.errors.UserError` for expected failures, and never commit: the caller
owns the transaction, so a failure leaves nothing half-written.
"""
