"""What every configuration section shares: the strict base model, identifiers, the environment prefix, how a key's
place in the document is written, and URLs made safe for logs."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, SecretStr

ENV_PREFIX = "CAMPUS_HUB__"
_ID = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
# Topic levels must not hold MQTT wildcards or separators; ids are also used in URLs.
IdStr = Annotated[str, Field(pattern=_ID, description="Identifier: letters, digits, '_', '.', '-'; at most 64.")]


class StrictModel(BaseModel):
    """Base of every section: an unknown key is an error (a misspelt setting must not be silently ignored), and a
    loaded configuration cannot be changed under the running hub."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def require_username(username: str | None, password: SecretStr | None) -> None:
    """A password alone authenticates nobody: refuse it rather than connect anonymously."""
    if password is not None and not username:
        raise ValueError("password given without username")


def require_unique(values: list[str], what: str, *, show: bool = True) -> None:
    """ValueError on the first repeated value; `show=False` keeps a secret value out of the message."""
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise ValueError(f"duplicate {what}" + (f": {value!r}" if show else ""))
        seen.add(value)


Path_ = tuple[str | int, ...]
"""A key's place in the document: names and list indexes."""


def key_text(path: Path_) -> str:
    """`devices[2].location.room` for ("devices", 2, "location", "room")."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text
