"""``GET/PUT /v1/apps/{app_id}/identity-providers``: the OpenID Connect providers whose ID tokens
an app accepts in ``hello`` (docs/identity.md).

Credentials as for the rooms REST: the admin key, or a server token of that app. ``PUT``
replaces the whole list; each entry is checked by :func:`ilvb.auth.oidc_config.check_provider`
(asymmetric algorithms only, an http(s) issuer) and refused with ``invalid_identity_provider``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from ilvb.auth.oidc_config import MAX_PROVIDERS, check_provider
from ilvb.server.rest_errors import error_responses
from ilvb.server.rest_rooms import app_access
from ilvb.store.interfaces import IdentityProvider


class IdentityProviderModel(BaseModel):
    """One provider: its issuer, the app's client id there, and how claims map to ilvb."""

    model_config = ConfigDict(extra="forbid", strict=True)

    issuer: Annotated[str, Field(min_length=1, max_length=512)]
    # The client id registered at the provider: the ID token's `aud` must contain it.
    audience: Annotated[str, Field(min_length=1, max_length=256)]
    algorithms: Annotated[list[str], Field(min_length=1, max_length=9)] = ["RS256"]
    # The claim that becomes the ilvb user id.
    user_claim: Annotated[str, Field(min_length=1, max_length=128)] = "sub"
    # The claim that becomes the role; absent or not a string -> default_role.
    role_claim: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    default_role: Annotated[str, Field(min_length=1, max_length=128)] = "audience"

    def to_record(self) -> IdentityProvider:
        """The store's record of this provider."""
        return IdentityProvider(
            issuer=self.issuer,
            audience=self.audience,
            algorithms=tuple(self.algorithms),
            user_claim=self.user_claim,
            role_claim=self.role_claim,
            default_role=self.default_role,
        )

    @classmethod
    def of(cls, record: IdentityProvider) -> IdentityProviderModel:
        """The REST form of a stored provider."""
        return cls(
            issuer=record.issuer,
            audience=record.audience,
            algorithms=list(record.algorithms),
            user_claim=record.user_claim,
            role_claim=record.role_claim,
            default_role=record.default_role,
        )


class IdentityProviders(BaseModel):
    """The app's providers, in order (at most 8)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    providers: Annotated[list[IdentityProviderModel], Field(max_length=MAX_PROVIDERS)]


router = APIRouter(
    prefix="/v1/apps/{app_id}",
    tags=["identity providers (app server / admin)"],
    responses=error_responses(
        {
            400: "invalid_argument / invalid_identity_provider",
            401: "app_signature_required / admin_key_required",
            404: "app_not_found",
        }
    ),
)


@router.get("/identity-providers")
async def get_identity_providers(
    request: Request, app_id: Annotated[str, Depends(app_access)]
) -> IdentityProviders:
    """The app's OpenID Connect providers."""
    records = await request.app.state.store.get_identity_providers(app_id)
    return IdentityProviders(providers=[IdentityProviderModel.of(r) for r in records])


@router.put("/identity-providers")
async def put_identity_providers(
    request: Request, app_id: Annotated[str, Depends(app_access)], body: IdentityProviders
) -> IdentityProviders:
    """Replace the app's providers (an empty list: the app accepts no ID tokens)."""
    records = [p.to_record() for p in body.providers]
    for record in records:
        check_provider(record)
    stored = await request.app.state.store.set_identity_providers(app_id, records)
    return IdentityProviders(providers=[IdentityProviderModel.of(r) for r in stored])
