"""The HTTP and GraphQL API: Litestar app, authentication, the strawberry schema."""
