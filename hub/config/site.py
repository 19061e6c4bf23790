"""The `site:` section: the campus this hub serves."""

from __future__ import annotations

from pydantic import Field

from hub.config.base import IdStr, StrictModel


class SiteConfig(StrictModel):
    """The campus this hub serves; sent with every alarm."""

    id: IdStr = Field(description="Site identifier, used in MQTT topics and reports.")
    name: str = Field(min_length=1, description="School name as the 110 centre should read it.")
    address: str = Field(min_length=1, description="Street address as the 110 centre should read it.")
