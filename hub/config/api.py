"""The `api:` section: the HTTP API and console, and the bearer tokens with their roles."""

from __future__ import annotations

from enum import StrEnum

from pydantic import AnyHttpUrl, Field, IPvAnyNetwork, SecretStr, field_validator

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
    public_url: AnyHttpUrl | None = Field(
        default=None,
        description="The hub's address as the receiving centre reaches it (e.g. https://hub.school.example). Set, "
        "alarms carry absolute, signed, expiring links to their evidence pictures that open without a token (each "
        "open audited); unset, no link is sent.",
    )
    link_ttl_s: int = Field(
        default=72 * 3600,
        ge=600,
        le=30 * 86400,
        description="How long a signed evidence link stays valid after the alarm went out, seconds (default 3 days).",
    )
    link_key: SecretStr | None = Field(
        default=None,
        description="Key that signs evidence links (at least 32 characters). Unset, the hub makes one at first start "
        "and keeps it in its store; changing it voids every link already sent.",
    )
    secure_cookies: bool = Field(
        default=False,
        description="Mark console session cookies Secure (only sent over https); on when a TLS proxy fronts the hub.",
    )

    @field_validator("link_key")
    @classmethod
    def _key_long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 32:
            raise ValueError("link_key must be at least 32 characters (`campus-hub token` prints a good one)")
        return value

    def public_base(self) -> str | None:
        """`public_url` without its trailing slash, or None."""
        return str(self.public_url).rstrip("/") if self.public_url is not None else None

    @field_validator("tokens")
    @classmethod
    def _unique(cls, tokens: list[ApiToken]) -> list[ApiToken]:
        require_unique([t.name for t in tokens], "token name")
        require_unique([t.token.get_secret_value() for t in tokens], "token value", show=False)
        return tokens
