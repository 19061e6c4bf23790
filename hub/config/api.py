"""The `api:` section: the HTTP API and console, and the bearer tokens with their roles."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field, IPvAnyNetwork, SecretStr, field_validator

from hub.config.base import IdStr, StrictModel, require_unique


class Role(StrEnum):
    """API token roles."""

    GUARD = "guard"
    MAINTENANCE = "maintenance"
    BUREAU = "bureau"
    ADMIN = "admin"


MIN_TOKEN_LENGTH = 16


class ApiToken(StrictModel):
    """A bearer token and the role it grants."""

    name: IdStr = Field(description="Who holds the token; recorded in the audit log.")
    role: Role = Field(description="guard, maintenance, bureau or admin.")
    token: SecretStr = Field(description="The token (prefer CAMPUS_HUB__API__TOKENS__<name>__TOKEN).")

    @field_validator("token")
    @classmethod
    def _long_enough(cls, value: SecretStr) -> SecretStr:
        # 16 characters of a random token (`campus-hub token` prints 43) are 96 bits: with the credential throttle
        # (one guess per minutes once an address keeps failing) guessing is hopeless; 8 were not.
        if len(value.get_secret_value()) < MIN_TOKEN_LENGTH:
            raise ValueError(
                f"token is shorter than {MIN_TOKEN_LENGTH} characters; `campus-hub token` prints a good one"
            )
        return value


class ApiConfig(StrictModel):
    """The HTTP API and console."""

    host: str = Field(default="127.0.0.1", description="Address the API listens on.")
    port: int = Field(default=8080, ge=0, le=65535, description="Port the API listens on; 0 picks a free one.")
    tokens: list[ApiToken] = Field(default_factory=list, description="Bearer tokens; none means no API access.")
    trusted_proxies: list[IPvAnyNetwork] = Field(
        default_factory=list,
        description="Reverse proxies whose X-Forwarded-For names the client (addresses or networks); none by "
        "default, so the header is ignored and the TCP peer is the client.",
    )
    secure_cookies: bool = Field(
        default=False,
        description="Mark console session cookies Secure (only sent over https); on when a TLS proxy fronts the hub.",
    )

    @field_validator("tokens")
    @classmethod
    def _unique(cls, tokens: list[ApiToken]) -> list[ApiToken]:
        require_unique([t.name for t in tokens], "token name")
        require_unique([t.token.get_secret_value() for t in tokens], "token value", show=False)
        return tokens
