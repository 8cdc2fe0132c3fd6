"""The start request's ``config.auth``: a bearer token, or an OAuth app's grant (docs/api.md,
"HubSpot credentials"). Its checks name the field they are about (``field_error``: see
validation.py), so a missing ``client_secret`` is reported under ``config.auth.client_secret``."""

from __future__ import annotations

import re

from pydantic import ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic.config import JsonDict
from pydantic_core import PydanticCustomError

from hubspot_deals.api.strict import Strict, given_without
from hubspot_deals.hubspot import OAuthCredentials

#: Secrets travel in an HTTP header: visible ASCII only (HubSpot's tokens are ``pat-<region>-<uuid>``).
TOKEN_PATTERN = r"^[!-~]+$"  # noqa: S105 (a pattern, not a password)
TOKEN_RE = re.compile(TOKEN_PATTERN)


_SECRET_SCHEMA: JsonDict = {"minLength": 1, "maxLength": 512, "pattern": TOKEN_PATTERN}
_OAUTH_FIELDS = ("client_id", "client_secret", "refresh_token")
_OAUTH_STRINGS = dict.fromkeys(_OAUTH_FIELDS, "string")


def _secret(
    value: SecretStr | None,
    problem: str = "Must be visible ASCII without spaces, at most 512 characters",
) -> SecretStr | None:
    if value is None:
        return None
    secret = value.get_secret_value()
    if not secret.strip():
        raise ValueError("Field is required")
    if len(secret) > 512 or not TOKEN_RE.match(secret):
        raise ValueError(problem)
    return value


class Auth(Strict):
    """One of two kinds: a bearer token, or an OAuth app's grant the service renews."""

    model_config = ConfigDict(
        json_schema_extra={
            "oneOf": [
                given_without({"hubspot_access_token": "string"}, _OAUTH_STRINGS),
                given_without(_OAUTH_STRINGS, {"hubspot_access_token": "string"}),
            ]
        }
    )

    hubspot_access_token: SecretStr | None = Field(
        None,
        description="A private-app token, a service key or an OAuth access token.",
        json_schema_extra=_SECRET_SCHEMA,
    )
    client_id: SecretStr | None = Field(
        None,
        description="An OAuth app's client id; with client_secret and refresh_token the "
        "service obtains access tokens and renews them before they expire.",
        json_schema_extra=_SECRET_SCHEMA,
    )
    client_secret: SecretStr | None = Field(
        None, description="The OAuth app's client secret.", json_schema_extra=_SECRET_SCHEMA
    )
    refresh_token: SecretStr | None = Field(
        None,
        description="The portal's OAuth refresh token (kept, encrypted, as HubSpot rotates it).",
        json_schema_extra=_SECRET_SCHEMA,
    )

    @field_validator("hubspot_access_token")
    @classmethod
    def _token(cls, value: SecretStr | None) -> SecretStr | None:
        return _secret(
            value,
            "Must be a HubSpot access token (visible ASCII, no spaces, at most 512 characters)",
        )

    @field_validator(*_OAUTH_FIELDS)
    @classmethod
    def _oauth_field(cls, value: SecretStr | None) -> SecretStr | None:
        return _secret(value)

    @model_validator(mode="after")
    def _one_kind(self) -> Auth:
        given = [name for name in _OAUTH_FIELDS if getattr(self, name) is not None]
        if self.hubspot_access_token is not None and given:
            raise PydanticCustomError(
                "field_error",
                "Give hubspot_access_token, or client_id, client_secret and refresh_token; "
                "not both",
                {"field": given[0]},
            )
        if self.hubspot_access_token is None and not given:
            raise PydanticCustomError(
                "field_error", "Field is required", {"field": "hubspot_access_token"}
            )
        for name in _OAUTH_FIELDS:
            if given and name not in given:
                raise PydanticCustomError(
                    "field_error",
                    "Field is required (client_id, client_secret and refresh_token go together)",
                    {"field": name},
                )
        return self

    @property
    def oauth(self) -> OAuthCredentials | None:
        """The OAuth grant, when that is the kind given."""
        if self.client_id is None or self.client_secret is None or self.refresh_token is None:
            return None
        return OAuthCredentials(
            self.client_id.get_secret_value(), self.client_secret, self.refresh_token
        )
