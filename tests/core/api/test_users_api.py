"""Staff users, roles and sessions over GraphQL, and every mutation walked with each role."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pyotp
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLScalarType,
)
from sqlalchemy import select

from crossdock.api.schema import Mutation, schema
from crossdock.api.schema.errors import required_scope
from crossdock.api.schema.relay import encode_id
from crossdock.db.models import MailOutbox, Tenant
from crossdock.security import SCOPES
from crossdock.services import tenancy, users
from crossdock.testing import STAFF_PASSWORD, jobs_running, make_staff, wait_until

INVITE = """mutation($email: String!, $roles: [RoleGrantInput!]!) {
  userInvite(input: {email: $email, name: "Ana", roles: $roles}) {
    user { id email roles { role { name } tenant } ssoOnly }
    userErrors { code field message }
  }
}"""
ME = "{ me { email roles { role { name builtin } tenant } totpEnabled } }"


async def _unthrottled(app: Any, tenant: Any) -> None:
    async with app.db.write(system=True) as session:
        row = await session.scalar(select(Tenant).where(Tenant.id == tenant.id))
        row.settings = {**row.settings, "api": {"cost_bucket": 10**9, "cost_restore_rate": 10**6}}


def _code(body: dict[str, Any]) -> str | None:
    return body["errors"][0]["extensions"]["code"] if body.get("errors") else None


async def test_an_invited_user_is_mailed_signs_in_and_sees_its_roles(
    api: Any, app: Any, tenant_factory: Any
) -> None:
    tenant = await tenant_factory()
    async with jobs_running(app):
        invited = (
            await api.data(
                INVITE,
                {"email": "Ana@Example.com", "roles": [{"role": "operator", "tenant": tenant.slug}]},
                key=tenant.key,
            )
        )["userInvite"]
        assert invited["userErrors"] == []
        assert invited["user"]["email"] == "ana@example.com" and invited["user"]["ssoOnly"]
        assert invited["user"]["roles"] == [{"role": {"name": "operator"}, "tenant": tenant.slug}]

        async def mail_handled() -> Any:  # sent after the commit; no mailer here: kept unsent
            async with app.db.system() as session:
                row = await session.scalar(select(MailOutbox).where(MailOutbox.to == "ana@example.com"))
            return row if row is not None and row.status == "unsent" else None

        mail = await wait_until(mail_handled)
    assert mail.tag == "invitation" and "/auth/invitation/accept" in mail.text
    token = mail.text.rsplit("\n\n", 1)[1].strip()
    async with app.db.write(system=True) as session:
        tokens = await users.accept_invitation(session, token, STAFF_PASSWORD)

    me = (await api.data(ME, key=tokens.access_token))["me"]
    assert me == {
        "email": "ana@example.com",
        "roles": [{"role": {"name": "operator", "builtin": True}, "tenant": tenant.slug}],
        "totpEnabled": False,
    }
    assert (await api.data(ME, key=tenant.key))["me"] is None  # an API key is nobody
    listed = (await api.data("{ users { email ssoOnly } }", key=tenant.key))["users"]
    assert listed == [{"email": "ana@example.com", "ssoOnly": False}]
    roles = (await api.data("{ roles { name builtin scopes } }", key=tenant.key))["roles"]
    assert [r["name"] for r in roles] == ["owner", "manager", "operator", "viewer"]
    viewer = next(r for r in roles if r["name"] == "viewer")
    assert "ORDERS_READ" in viewer["scopes"] and "ORDERS_WRITE" not in viewer["scopes"]
    # an operator may not manage staff
    refused = await api(INVITE, {"email": "x@example.com", "roles": []}, key=tokens.access_token)
    assert _code(refused) == "FORBIDDEN"
    again = await api.data(
        INVITE, {"email": "ana@example.com", "roles": [{"role": "viewer"}]}, key=tenant.key
    )
    assert again["userInvite"]["userErrors"][0]["code"] in {"TAKEN", "TENANT_NOT_REACHED"}


async def test_a_brand_owner_manages_its_own_staff_only_and_gives_no_more_than_it_holds(
    api: Any, app: Any, tenant_factory: Any
) -> None:
    brand = await tenant_factory()
    async with app.db.write(system=True) as session:
        org = await tenancy.get_organization(session, brand.organization_slug)
        other = await tenancy.create_tenant(session, org, f"{brand.slug}-b")
        _, every_key = await tenancy.create_api_key(session, org, name="agency", scopes=["admin"])
    agency = replace(brand, key=every_key)  # the agency's own key: every tenant
    brand_owner = await make_staff(app, agency, [("owner", None)])
    agency_staff = await make_staff(app, agency, [("viewer", "*")])
    other_staff = await make_staff(app, agency, [("operator", other.slug)])

    seen = {
        u["email"] for u in (await api.data("{ users { email } }", key=brand_owner.access_token))["users"]
    }
    assert seen == {brand_owner.email}  # the all-tenants viewer and the other brand's staff are not its own
    every = {
        u["email"]
        for u in (await api.data("{ users { email } }", key=agency.key, tenant=brand.slug))["users"]
    }
    assert every == {brand_owner.email, agency_staff.email, other_staff.email}

    grant = """mutation($u: ID!, $role: String!, $t: String) {
      userRoleGrant(input: {userId: $u, role: $role, tenant: $t}) {
        user { roles { role { name } tenant } } userErrors { code field }
      }
    }"""
    foreign = encode_id("User", other_staff.user_id)
    answer = await api.data(
        grant, {"u": foreign, "role": "viewer", "t": agency.slug}, key=brand_owner.access_token
    )
    assert answer["userRoleGrant"]["userErrors"] == [{"code": "NOT_FOUND", "field": ["userId"]}]
    invite = (
        await api.data(
            INVITE,
            {"email": "new@example.com", "roles": [{"role": "manager", "tenant": other.slug}]},
            key=brand_owner.access_token,
        )
    )["userInvite"]
    assert invite["userErrors"][0]["code"] == "TENANT_NOT_REACHED"
    everywhere = (
        await api.data(
            INVITE, {"email": "new@example.com", "roles": [{"role": "viewer"}]}, key=brand_owner.access_token
        )
    )["userInvite"]
    assert everywhere["userErrors"][0]["code"] == "TENANT_NOT_REACHED"  # all tenants: only from all

    # a manager reads staff but gives no role holding users:write (it does not hold it)
    manager = await make_staff(app, agency, [("manager", None)])
    assert (await api.data("{ users { email } }", key=manager.access_token))["users"]
    own = encode_id("User", brand_owner.user_id)
    assert _code(
        await api(grant, {"u": own, "role": "owner", "t": agency.slug}, key=manager.access_token)
    ) == ("FORBIDDEN")


async def test_a_custom_role_gives_its_scopes_and_a_change_reaches_its_holders(
    api: Any, app: Any, tenant_factory: Any
) -> None:
    tenant = await tenant_factory()
    made = (
        await api.data(
            'mutation { roleCreate(input: {name: "packer", scopes: [ORDERS_READ], description: "packs"}) '
            "{ role { id name builtin scopes } userErrors { code } } }",
            key=tenant.key,
        )
    )["roleCreate"]
    assert made["role"]["scopes"] == ["ORDERS_READ"] and not made["role"]["builtin"]
    packer = await make_staff(app, tenant, [("packer", None)])
    assert "errors" not in await api("{ orders { nodes { id } } }", key=packer.access_token)
    assert _code(await api("{ products { nodes { id } } }", key=packer.access_token)) == "FORBIDDEN"

    role_id = made["role"]["id"]
    update = (
        "mutation($id: ID!) { roleUpdate(input: {id: $id, scopes: [CATALOG_READ]}) { userErrors { code } } }"
    )
    assert (await api.data(update, {"id": role_id}, key=tenant.key))["roleUpdate"]["userErrors"] == []
    assert "errors" not in await api("{ products { nodes { id } } }", key=packer.access_token)
    assert _code(await api("{ orders { nodes { id } } }", key=packer.access_token)) == "FORBIDDEN"

    builtin = next(
        r["id"]
        for r in (await api.data("{ roles { id name } }", key=tenant.key))["roles"]
        if r["name"] == "owner"
    )
    changed = await api.data(update, {"id": builtin}, key=tenant.key)
    assert changed["roleUpdate"]["userErrors"] == [{"code": "INVALID_STATE"}]
    taken = await api.data(
        'mutation { roleCreate(input: {name: "viewer", scopes: [ORDERS_READ]}) { userErrors { code } } }',
        key=tenant.key,
    )
    assert taken["roleCreate"]["userErrors"] == [{"code": "TAKEN"}]

    delete = "mutation($id: ID!) { roleDelete(input: {id: $id}) { role { name } userErrors { code } } }"
    assert (await api.data(delete, {"id": role_id}, key=tenant.key))["roleDelete"]["role"] == {
        "name": "packer"
    }
    refused = await api.raw("{ products { nodes { id } } }", key=packer.access_token)
    assert (refused.status_code, _code(refused.json())) == (403, "FORBIDDEN")  # no role left anywhere


async def test_sessions_are_listed_and_revoked_and_disabling_ends_them_all(
    api: Any, app: Any, tenant_factory: Any
) -> None:
    tenant = await tenant_factory()
    staff = await make_staff(app, tenant, [("viewer", None)])
    second = await users.login(
        app.db, app.vault, organization=tenant.organization_slug, email=staff.email, password=STAFF_PASSWORD
    )
    mine = (await api.data("{ mySessions { id current method } }", key=staff.access_token))["mySessions"]
    assert [s["current"] for s in mine] == [False, True] and mine[1]["method"] == "INVITATION"
    revoke = "mutation($id: ID!) { sessionRevoke(input: {id: $id}) { session { id } userErrors { code } } }"
    answer = (await api.data(revoke, {"id": mine[0]["id"]}, key=staff.access_token))["sessionRevoke"]
    assert answer["userErrors"] == []
    refused = await api.raw("{ me { email } }", key=second.access_token)
    assert refused.status_code == 401

    other = await make_staff(app, tenant, [("viewer", None)])
    theirs = (await api.data("{ mySessions { id } }", key=other.access_token))["mySessions"][0]["id"]
    not_mine = (await api.data(revoke, {"id": theirs}, key=staff.access_token))["sessionRevoke"]
    assert not_mine["userErrors"] == [{"code": "NOT_FOUND"}]  # a viewer ends its own only
    listed = await api.data(
        "query($u: ID!) { userSessions(userId: $u) { id } }",
        {"u": encode_id("User", other.user_id)},
        key=tenant.key,
    )
    assert [s["id"] for s in listed["userSessions"]] == [theirs]

    disable = (
        "mutation($id: ID!) { userDisable(input: {id: $id}) { user { disabledAt } userErrors { code } } }"
    )
    gone = (await api.data(disable, {"id": encode_id("User", other.user_id)}, key=tenant.key))["userDisable"]
    assert gone["userErrors"] == [] and gone["user"]["disabledAt"]
    assert (await api.raw("{ me { email } }", key=other.access_token)).status_code == 401
    with_key_self = await api.data(
        'mutation { passwordChange(input: {currentPassword: "a", newPassword: "b"}) { userErrors { code } } }',
        key=tenant.key,
    )
    assert with_key_self["passwordChange"]["userErrors"] == [{"code": "NOT_A_USER"}]


async def test_second_factor_and_password_change_over_the_api(
    api: Any, app: Any, tenant_factory: Any
) -> None:
    tenant = await tenant_factory()
    staff = await make_staff(app, tenant, [("viewer", None)])
    enrolled = (
        await api.data("mutation { totpEnroll { secret uri userErrors { code } } }", key=staff.access_token)
    )["totpEnroll"]
    assert enrolled["uri"].startswith("otpauth://totp/")
    confirm = "mutation($c: String!) { totpConfirm(input: {code: $c}) { user { totpEnabled } userErrors { code } } }"
    totp = pyotp.TOTP(enrolled["secret"])
    now = totp.timecode(datetime.now(UTC))
    valid = {totp.generate_otp(step) for step in range(now - 2, now + 3)}  # the window, and then some
    not_it = next(c for c in (f"{n:06d}" for n in range(1_000_000)) if c not in valid)
    wrong = (await api.data(confirm, {"c": not_it}, key=staff.access_token))["totpConfirm"]
    assert wrong["userErrors"] == [{"code": "TOTP_INVALID"}]
    code = pyotp.TOTP(enrolled["secret"]).now()
    assert (await api.data(confirm, {"c": code}, key=staff.access_token))["totpConfirm"]["user"] == {
        "totpEnabled": True
    }
    org = tenant.organization_slug
    needs = await _refused(
        users.login(app.db, app.vault, organization=org, email=staff.email, password=STAFF_PASSWORD)
    )
    assert needs == "TOTP_REQUIRED"

    other = await users.refresh(app.db, staff.refresh_token)  # the same session, rotated
    change = """mutation($old: String!, $new: String!) {
      passwordChange(input: {currentPassword: $old, newPassword: $new}) { userErrors { code field } }
    }"""
    bad = await api.data(change, {"old": "not it at all", "new": "another long one"}, key=other.access_token)
    assert bad["passwordChange"]["userErrors"] == [
        {"code": "INVALID_CREDENTIALS", "field": ["input", "currentPassword"]}
    ]
    weak = await api.data(change, {"old": STAFF_PASSWORD, "new": "short"}, key=other.access_token)
    assert weak["passwordChange"]["userErrors"][0]["code"] == "WEAK_PASSWORD"
    done = await api.data(
        change, {"old": STAFF_PASSWORD, "new": "a much newer passphrase"}, key=other.access_token
    )
    assert done["passwordChange"]["userErrors"] == []
    assert (
        await api.raw("{ me { email } }", key=other.access_token)
    ).status_code == 200  # this session stays

    attempts = (
        await api.data(
            "{ loginAttempts(outcome: TOTP_REQUIRED) { email outcome method userId } }", key=tenant.key
        )
    )["loginAttempts"]
    assert attempts == [
        {
            "email": staff.email,
            "outcome": "TOTP_REQUIRED",
            "method": "PASSWORD",
            "userId": encode_id("User", staff.user_id),
        }
    ]


async def _refused(call: Any) -> str:
    try:
        await call
    except users.LoginRefused as exc:
        return exc.code
    raise AssertionError("the login was not refused")


# --------------------------------------------------------------------------- the walk

#: A value of each scalar the walk can send (any well-formed one: it checks permission).
SCALARS: dict[str, Any] = {
    "ID": encode_id("Product", 9_000_000_000_000_000_000),
    "String": "x",
    "Int": 1,
    "Float": 1.0,
    "Boolean": False,
    "Decimal": "1",
    "DateTime": "2030-01-01T00:00:00+00:00",
    "LocalDateTime": "2030-01-01T00:00:00",
    "Date": "2030-01-01",
    "JSON": {},
}


def _value(kind: GraphQLInputType) -> Any:
    """A well-formed value of an input type: every required field, one list item."""
    if isinstance(kind, GraphQLNonNull):
        return _value(kind.of_type)
    if isinstance(kind, GraphQLList):
        return [_value(kind.of_type)]
    if isinstance(kind, GraphQLEnumType):
        return next(iter(kind.values))
    if isinstance(kind, GraphQLInputObjectType):
        return {name: _value(f.type) for name, f in kind.fields.items() if isinstance(f.type, GraphQLNonNull)}
    assert isinstance(kind, GraphQLScalarType) and kind.name in SCALARS, f"the walk needs a {kind} value"
    return SCALARS[kind.name]


def _literal(value: Any, kind: GraphQLInputType) -> str:
    base = kind.of_type if isinstance(kind, GraphQLNonNull) else kind
    if isinstance(base, GraphQLList):
        return "[%s]" % ", ".join(_literal(v, base.of_type) for v in value)
    if isinstance(base, GraphQLEnumType):
        return str(value)
    if isinstance(base, GraphQLInputObjectType):
        return "{%s}" % ", ".join(f"{k}: {_literal(v, base.fields[k].type)}" for k, v in value.items())
    import json

    return json.dumps(value) if base.name != "JSON" else "{}"


def _call(name: str) -> str:
    field = schema._schema.mutation_type.fields[name]  # type: ignore[union-attr]
    args = ", ".join(
        f"{arg}: {_literal(_value(a.type), a.type)}"
        for arg, a in field.args.items()
        if isinstance(a.type, GraphQLNonNull)
    )
    return "mutation { %s%s { __typename } }" % (name, f"({args})" if args else "")


async def test_every_mutation_with_each_role_is_refused_exactly_when_the_role_lacks_its_scope(
    api: Any, app: Any, tenant_factory: Any
) -> None:
    """Every mutation of the schema, sent by a user of each built-in role and of a custom
    one: FORBIDDEN when the role does not hold the scope the mutation names, anything else
    (done, or a userError on the made-up input) when it does."""
    tenant = await tenant_factory()
    await _unthrottled(app, tenant)
    await api.data(
        'mutation { roleCreate(input: {name: "reader", scopes: [ORDERS_READ, CATALOG_WRITE]}) { userErrors { code } } }',
        key=tenant.key,
    )
    needs = {
        (f.graphql_name or schema.config.name_converter.apply_naming_config(f.python_name)): required_scope(f)
        for f in Mutation.__strawberry_definition__.fields
    }
    assert set(needs) == set(schema._schema.mutation_type.fields)  # type: ignore[union-attr]
    held = {name: scopes for name, (scopes, _) in users.BUILTIN_ROLES.items()}
    held["reader"] = frozenset({"orders:read", "catalog:write"})
    walked = 0
    for role, scopes in held.items():
        staff = await make_staff(app, tenant, [(role, None)])
        for name, scope in sorted(needs.items()):
            if name in {"passwordChange", "totpDisable", "sessionRevoke"}:
                continue  # one's own account: walked above, and would end this very session
            body = await api(_call(name), key=staff.access_token)
            allowed = scope is None or users.holds(scopes, [scope])
            assert (_code(body) == "FORBIDDEN") != allowed, (role, name, scope, body)
            assert scope is None or scope in SCOPES
            walked += 1
    assert walked >= 5 * 70


async def test_identity_providers_over_the_api_never_show_their_secret(
    api: Any, app: Any, tenant_factory: Any
) -> None:
    tenant = await tenant_factory()
    create = """mutation($issuer: String!) { identityProviderCreate(input: {name: "corp", issuer: $issuer,
      clientId: "ops", clientSecret: "s3cret", options: {timeout: 2}}) {
        identityProvider { id name provider issuer clientId options signInUrl disabledAt }
        userErrors { code field }
    } }"""
    refused = (await api.data(create, {"issuer": "https://10.0.0.7"}, key=tenant.key))[
        "identityProviderCreate"
    ]
    assert refused["userErrors"] == [{"code": "URL_NOT_ALLOWED", "field": ["input", "issuer"]}]
    made = (await api.data(create, {"issuer": "https://idp.example.com"}, key=tenant.key))[
        "identityProviderCreate"
    ]
    provider = made["identityProvider"]
    assert made["userErrors"] == [] and provider["provider"] == "oidc" and provider["clientId"] == "ops"
    assert provider["signInUrl"].endswith(f"/auth/sso/{tenant.organization_slug}/corp/start")
    assert "s3cret" not in str(
        await api("{ identityProviders { id name issuer clientId options } }", key=tenant.key)
    )
    update = """mutation($id: ID!) { identityProviderUpdate(input: {id: $id, disabled: true}) {
      identityProvider { disabledAt } userErrors { code } } }"""
    changed = (await api.data(update, {"id": provider["id"]}, key=tenant.key))["identityProviderUpdate"]
    assert changed["identityProvider"]["disabledAt"]

    # a second brand: the first one's key no longer speaks for the whole organization
    async with app.db.write(system=True) as session:
        org = await tenancy.get_organization(session, tenant.organization_slug)
        await tenancy.create_tenant(session, org, f"{tenant.slug}-b")
    narrow = (await api.data(update, {"id": provider["id"]}, key=tenant.key))["identityProviderUpdate"]
    assert narrow["userErrors"] == [{"code": "TENANT_NOT_REACHED"}]
