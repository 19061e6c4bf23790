"""Loading a configuration file: YAML with the line of every key, `CAMPUS_HUB__…` environment overrides (and
`…_FILE` secrets), relative paths, and errors that name the key, the line and the reason.

The models themselves are in `hub.config`'s section modules; this module turns text into a `HubConfig` or a
`ConfigError`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from hub.config.base import ENV_PREFIX, Path_, key_text
from hub.config.registry import REGISTRY_ERROR, registry_problems
from hub.config.root import HubConfig
from hub.config.storage import StorageConfig
from hub.core.redact import redact_url


@dataclass(frozen=True)
class ConfigIssue:
    """One problem with a configuration: where (key path, YAML line or environment variable) and what."""

    key: str
    message: str
    line: int | None = None
    source: str | None = None

    def render(self, filename: str) -> str:
        if self.source is not None:
            where = f"{filename}: (from {self.source})"
        elif self.line is not None:
            where = f"{filename}:{self.line}"
        else:
            where = filename
        return f"{where}: {self.key or '(top level)'}: {self.message}"


class ConfigError(Exception):
    """The configuration cannot be used; `issues` says every reason."""

    def __init__(self, filename: str, issues: list[ConfigIssue]) -> None:
        self.filename = filename
        self.issues = issues
        super().__init__("\n".join(issue.render(filename) for issue in issues))


class _Lines:
    """Line of every key and list item in a YAML document, found from the composed node tree."""

    def __init__(self, root: yaml.Node | None) -> None:
        self.lines: dict[Path_, int] = {}
        self.duplicates: list[ConfigIssue] = []
        if root is not None:
            self._walk(root, ())

    def _walk(self, node: yaml.Node, path: Path_) -> None:
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                key = str(key_node.value)
                child = (*path, key)
                if child in self.lines:
                    self.duplicates.append(
                        ConfigIssue(
                            key_text(child),
                            "key given twice (the first would be ignored)",
                            key_node.start_mark.line + 1,
                        )
                    )
                self.lines[child] = key_node.start_mark.line + 1
                self._walk(value_node, child)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                child = (*path, index)
                self.lines[child] = item.start_mark.line + 1
                self._walk(item, child)

    def line_of(self, loc: Path_) -> tuple[Path_, int | None]:
        """Deepest known path along `loc` (skipping union tags pydantic inserts) and its line."""
        known: Path_ = ()
        for part in loc:
            candidate = (*known, part)
            if candidate in self.lines:
                known = candidate
        return known, self.lines.get(known)


# Keys whose value is a list: an environment variable addresses their items by index, name or id.
_LIST_KEYS: frozenset[Path_] = frozenset({("devices",), ("api", "tokens"), ("forwarding", "endpoints")})

_PATH_KEYS: tuple[Path_, ...] = (
    ("storage", "path"),
    ("video", "snapshot_dir"),
    ("recordings", "root"),
    ("mqtt", "tls", "ca_file"),
    ("mqtt", "tls", "cert_file"),
    ("mqtt", "tls", "key_file"),
)


def _apply_env(data: dict[str, Any], environ: Mapping[str, str]) -> tuple[dict[Path_, str], list[ConfigIssue]]:
    """Overlay CAMPUS_HUB__A__B[__C] variables onto the parsed YAML; list items by index or by name/id."""
    origins: dict[Path_, str] = {}
    issues: list[ConfigIssue] = []
    for var in sorted(environ):
        if not var.startswith(ENV_PREFIX) or var == ENV_PREFIX:
            continue
        raw_parts = var[len(ENV_PREFIX) :].split("__")
        value: str = environ[var]
        if raw_parts[-1].upper().endswith("_FILE"):
            raw_parts[-1] = raw_parts[-1][: -len("_FILE")]
            try:
                value = Path(value).read_text(encoding="utf-8").strip()
            except OSError as exc:
                issues.append(ConfigIssue(var, f"cannot read secret file {value!r}: {exc.strerror}", source=var))
                continue
        try:
            path = _set_path(data, raw_parts, value)
        except LookupError as exc:
            issues.append(ConfigIssue(var, str(exc), source=var))
            continue
        origins[path] = var
    return origins, issues


def _set_path(data: dict[str, Any], parts: list[str], value: str) -> Path_:
    node: Any = data
    path: list[str | int] = []
    for position, raw in enumerate(parts):
        last = position == len(parts) - 1
        if isinstance(node, list):
            index = _list_index(node, raw)
            path.append(index)
            if last:
                raise LookupError("a list item cannot be set whole from the environment; name one of its keys")
            node = node[index]
            continue
        if not isinstance(node, dict):
            raise LookupError(f"{key_text(tuple(path))} is not a section")
        key = raw.lower()
        path.append(key)
        if last:
            node[key] = value
        else:
            if node.get(key) is None:  # absent, or `key:` with nothing after it
                node[key] = [] if tuple(path) in _LIST_KEYS else {}
            node = node[key]
    return tuple(path)


def _list_index(items: list[Any], raw: str) -> int:
    if raw.isdigit() and int(raw) < len(items):
        return int(raw)
    for index, item in enumerate(items):
        if isinstance(item, dict):
            for key in ("name", "id"):
                if str(item.get(key, "")).lower() == raw.lower():
                    return index
    raise LookupError(f"no list item with index, name or id {raw!r}")


def _resolve_paths(data: dict[str, Any], base: Path) -> None:
    if data.get("storage") is None:
        data["storage"] = {}
    if isinstance(data["storage"], dict):
        data["storage"].setdefault("path", str(StorageConfig().path))
    for key_path in _PATH_KEYS:
        node: Any = data
        for part in key_path[:-1]:
            node = node.get(part) if isinstance(node, dict) else None
        leaf = key_path[-1]
        if isinstance(node, dict) and isinstance(node.get(leaf), str):
            candidate = Path(node[leaf]).expanduser()
            node[leaf] = str(candidate if candidate.is_absolute() else base / candidate)


def parse_config(text: str, filename: str, *, base_dir: Path, environ: Mapping[str, str] | None = None) -> HubConfig:
    """YAML text -> HubConfig, or ConfigError listing every problem with its key and line."""
    env = os.environ if environ is None else environ
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(
            filename, [ConfigIssue("", f"not valid YAML: {problem}", mark.line + 1 if mark else None)]
        ) from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(filename, [ConfigIssue("", "the file must be a mapping of sections (site:, mqtt:, ...)", 1)])
    lines = _Lines(root)
    origins, issues = _apply_env(data, env)
    issues = lines.duplicates + issues
    _resolve_paths(data, base_dir)
    try:
        config = HubConfig.model_validate(data)
    except ValidationError as exc:
        raw_devices = data.get("devices")
        raw_zones = data.get("arming_zones", [])
        zone_ids = {str(z.get("id")) for z in raw_zones if isinstance(z, dict)} if isinstance(raw_zones, list) else None
        registry = registry_problems(raw_devices, zone_ids) if isinstance(raw_devices, list) else []
        found: list[ConfigIssue] = []
        for error in exc.errors(include_url=False):
            if error["type"] == REGISTRY_ERROR and registry:
                continue  # reported below from the raw items, each at its own line
            # Report the key as the user wrote it: drop the union tag pydantic adds (e.g. endpoints[0].http.url).
            loc: Path_ = tuple(p for p in error["loc"] if not _is_union_tag(tuple(error["loc"]), p))
            message = error["msg"].removeprefix("Value error, ")
            if error["type"] == "missing":
                message = "required key is missing"
            elif "input" in error and error["type"] != "extra_forbidden" and _echoable(loc, error["input"]):
                message += f" (got {_short(error['input'])})"
            found.append(_issue(loc, message, lines, origins))
        found += [_issue(("devices", *path), message, lines, origins) for path, message in registry]
        issues += sorted(found, key=lambda issue: (issue.line is None, issue.line or 0))
    if issues:
        raise ConfigError(filename, issues)
    return config


def _issue(loc: Path_, message: str, lines: _Lines, origins: dict[Path_, str]) -> ConfigIssue:
    _, line = lines.line_of(loc)
    source = next((origins[p] for p in origins if loc[: len(p)] == p), None)
    return ConfigIssue(key_text(loc), message, line, source)


def _echoable(loc: Path_, value: Any) -> bool:
    """Whether an offending value may be shown: scalars only (a section or list may hold secrets), never secrets."""
    return not _is_secret(loc) and not isinstance(value, dict | list | tuple)


def _is_union_tag(loc: Path_, part: str | int) -> bool:
    index = loc.index(part)
    if index > 0 and loc[index - 1] == "source" and part in ("http_snapshot", "stream", "file"):
        return len(loc) > index + 1
    return index > 0 and isinstance(loc[index - 1], int) and part in ("http", "dc09") and len(loc) > index + 1


def _is_secret(loc: Path_) -> bool:
    return bool(loc) and loc[-1] in ("password", "secret", "token", "key")


def _short(value: Any) -> str:
    text = repr(redact_url(value) if isinstance(value, str) else value)
    return text if len(text) <= 60 else text[:57] + "..."


def load_config(path: Path, environ: Mapping[str, str] | None = None) -> HubConfig:
    """Read and validate a configuration file; relative paths inside it are relative to its folder."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), [ConfigIssue("", f"cannot read: {exc.strerror}")]) from exc
    return parse_config(text, str(path), base_dir=path.resolve().parent, environ=environ)
