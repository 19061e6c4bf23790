"""Configuration loading and `campus-hub check-config`: the example file, errors with key and line, env overrides."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import types
import typing
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel

from device_adapters.base import DeviceKind
from hub.config import HttpEndpoint, HubConfig
from hub.config.loader import ConfigError, ConfigIssue, load_config, parse_config

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "config" / "hub.example.yaml"

SITE = "site:\n  id: s1\n  name: Test School\n  address: 1 Test Road\n"


def clean_env() -> dict[str, str]:
    """The test process's environment without any CAMPUS_HUB__ override."""
    return {k: v for k, v in os.environ.items() if not k.startswith("CAMPUS_HUB__")}


def check_config(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hub", "check-config", str(path)],
        capture_output=True,
        text=True,
        env=clean_env(),
        cwd=REPO,
        timeout=60,
        check=False,
    )


def line_of(text: str, needle: str, occurrence: int = 1) -> int:
    """1-based line of the n-th line containing `needle`."""
    hits = [number for number, line in enumerate(text.splitlines(), start=1) if needle in line]
    assert len(hits) >= occurrence, f"{needle!r} occurs {len(hits)} times"
    return hits[occurrence - 1]


def errors(text: str, environ: dict[str, str] | None = None, base_dir: Path = Path("/srv/hub")) -> list[ConfigIssue]:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "hub.yaml", base_dir=base_dir, environ=environ or {})
    assert caught.value.issues
    return caught.value.issues


def by_key(issues: list[ConfigIssue]) -> dict[str, ConfigIssue]:
    table = {issue.key: issue for issue in issues}
    assert len(table) == len(issues), f"two issues share a key: {issues}"
    return table


def rendered(issues: list[ConfigIssue]) -> str:
    return "\n".join(issue.render("hub.yaml") for issue in issues)


# --- the example file ------------------------------------------------------------------------------------------


def test_example_is_valid_with_check_config() -> None:
    result = check_config(EXAMPLE)
    assert result.returncode == 0, result.stderr
    assert "OK: site example-no1-ms" in result.stdout
    # Valid but risky: endpoints without secrets and no tokens are warned about, not refused.
    assert "warning: forwarding.endpoints[0].secret is not set" in result.stderr
    assert "warning: api.tokens is empty" in result.stderr


def test_example_holds_no_secrets_and_covers_every_device_kind() -> None:
    config = load_config(EXAMPLE, environ={})
    assert config.mqtt.password is None
    assert config.api.tokens == []
    assert config.mqtt.tls is None
    assert config.forwarding.endpoints
    assert all(isinstance(e, HttpEndpoint) and e.secret is None for e in config.forwarding.endpoints)
    assert {d.kind for d in config.devices} == set(DeviceKind)
    assert config.retention.days >= 90
    assert config.storage.path == EXAMPLE.resolve().parent / "campus-hub.db"
    index = config.device_index()
    linked = [camera for device in config.devices for camera in device.cameras]
    assert linked
    assert all(index[camera].kind is DeviceKind.CAMERA for camera in linked)
    overridden = [d for d in config.devices if d.heat_threshold_c is not None or d.heat_rate_c_per_min is not None]
    assert overridden
    assert all(d.kind is DeviceKind.TEMPERATURE for d in overridden)
    # Names and locations are bilingual: a CJK character and a Latin letter in each name.
    for device in config.devices:
        assert any("\u4e00" <= ch <= "\u9fff" for ch in device.name), device.name
        assert any(ch.isascii() and ch.isalpha() for ch in device.name), device.name


def _models(model: type[BaseModel], seen: set[type[BaseModel]]) -> None:
    if model in seen:
        return
    seen.add(model)
    for field in model.model_fields.values():
        stack: list[object] = [field.annotation]
        while stack:
            annotation = stack.pop()
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                _models(annotation, seen)
            elif isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is not None:
                stack.extend(typing.get_args(annotation))


def test_example_documents_every_key_of_every_model() -> None:
    models: set[type[BaseModel]] = set()
    _models(HubConfig, models)
    assert len(models) >= 14  # the walk really found the nested models (tls, endpoints, tokens, location, ...)
    lines = EXAMPLE.read_text(encoding="utf-8").splitlines()
    for model in models:
        for name in model.model_fields:
            # Each key appears as `key:` (possibly commented out or as a list item) or in a flow mapping,
            # and a comment sits on or right above it, or in the list item's header block.
            assert any(
                line.lstrip("# -").startswith(f"{name}:") or f"{name}: " in line or f"{{{name}:" in line
                for line in lines
            ), f"{model.__name__}.{name} is not in the example"
            assert any(f"{name}" in line and "#" in line for line in lines) or any(
                lines[i + 1].lstrip("# -").startswith(f"{name}:")
                for i, line in enumerate(lines[:-1])
                if line.lstrip().startswith("#")
            ), f"{model.__name__}.{name} has no comment"


def test_example_accepts_secrets_from_env_and_files(tmp_path: Path) -> None:
    secret_file = tmp_path / "bureau-secret"
    secret_file.write_text("bureau-shared-secret\n", encoding="utf-8")
    config = load_config(
        EXAMPLE,
        environ={
            "CAMPUS_HUB__MQTT__PASSWORD": "broker-password-1",
            "CAMPUS_HUB__FORWARDING__ENDPOINTS__police_110__SECRET": "police-shared-secret",
            "CAMPUS_HUB__FORWARDING__ENDPOINTS__fire_room__SECRET": "fire-room-shared-secret",
            "CAMPUS_HUB__FORWARDING__ENDPOINTS__edu_bureau__SECRET_FILE": str(secret_file),
        },
    )
    assert config.mqtt.password is not None
    assert config.mqtt.password.get_secret_value() == "broker-password-1"
    secrets = {
        e.name: e.secret.get_secret_value() if isinstance(e, HttpEndpoint) and e.secret else None
        for e in config.forwarding.endpoints
    }
    assert secrets == {
        "police_110": "police-shared-secret",
        "fire_room": "fire-room-shared-secret",
        "edu_bureau": "bureau-shared-secret",
    }
    assert not any("secret is not set" in warning for warning in config.warnings())


# --- errors with key and line -------------------------------------------------------------------------------------


def test_retention_below_90_days_exits_2_naming_key_rule_and_line(tmp_path: Path) -> None:
    text = SITE + "storage:\n  path: hub.db\nretention:\n  records_days: 400\n  days: 89\n"
    path = tmp_path / "hub.yaml"
    path.write_text(text, encoding="utf-8")
    result = check_config(path)
    assert result.returncode == 2
    error_lines = [line for line in result.stderr.splitlines() if "retention.days" in line]
    assert len(error_lines) == 1
    assert error_lines[0].startswith(f"{path}:{line_of(text, 'days: 89')}: retention.days: ")
    assert "at least 90" in error_lines[0]
    assert "(got 89)" in error_lines[0]
    assert "1 error(s)" in result.stderr
    assert "OK" not in result.stdout


def test_records_days_error_names_its_own_key() -> None:
    text = SITE + "retention:\n  records_days: 30\n"
    (issue,) = errors(text)
    assert issue.key == "retention.records_days"
    assert issue.line == line_of(text, "records_days: 30")
    assert issue.message.startswith("retention.records_days must be at least 90")
    assert issue.message.count("(got 30)") == 1


def test_minimum_retention_is_accepted() -> None:
    config = parse_config(
        SITE + "retention: {days: 90, records_days: 90}\n", "hub.yaml", base_dir=Path("/srv"), environ={}
    )
    assert (config.retention.days, config.retention.records_days) == (90, 90)


MANY_ERRORS = """\
site:
  id: s1
  address: 1 Road
mqtt:
  host: 127.0.0.1
  colour: blue
devices:
  - id: cam-1
    kind: camera
    name: Gate camera
    location: {building: A, floor: 1, room: Gate}
  - id: smoke-1
    kind: smoke
    name: Lab smoke
    location: {building: A, floor: 3, room: Lab}
  - id: btn-1
    kind: panic_buton
    name: Gate button
    location: {building: A, floor: 1, room: Guard room}
    cameras: [cam-1, smoke-1]
  - id: smoke-1
    kind: smoke
    name: Library smoke
    location: {building: B, floor: 2, room: Library}
sla:
  recovery_hours: 25
"""


def test_every_error_of_a_file_is_reported_at_its_own_line() -> None:
    issues = errors(MANY_ERRORS)
    table = by_key(issues)
    assert set(table) == {
        "site.name",
        "mqtt.colour",
        "devices[2].kind",
        "devices[2].cameras[1]",
        "devices[3].id",
        "sla.recovery_hours",
    }
    assert table["site.name"].line == line_of(MANY_ERRORS, "site:")
    assert table["site.name"].message == "required key is missing"
    assert table["mqtt.colour"].line == line_of(MANY_ERRORS, "colour: blue")
    assert "not permitted" in table["mqtt.colour"].message
    assert table["devices[2].kind"].line == line_of(MANY_ERRORS, "kind: panic_buton")
    assert "'panic_buton'" in table["devices[2].kind"].message
    assert table["devices[2].cameras[1]"].line == line_of(MANY_ERRORS, "cameras: [cam-1, smoke-1]")
    assert table["devices[2].cameras[1]"].message == "'smoke-1' is a smoke, not a camera"
    assert table["devices[3].id"].line == line_of(MANY_ERRORS, "- id: smoke-1", occurrence=2)
    assert "duplicate device id: 'smoke-1'" in table["devices[3].id"].message
    assert table["sla.recovery_hours"].line == line_of(MANY_ERRORS, "recovery_hours: 25")
    assert "less than or equal to 24" in table["sla.recovery_hours"].message
    # In file order, so an operator can work down the list.
    assert [i.line for i in issues] == sorted(i.line or 0 for i in issues)


def test_check_config_prints_every_error_with_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "hub.yaml"
    path.write_text(MANY_ERRORS, encoding="utf-8")
    result = check_config(path)
    assert result.returncode == 2
    assert f"{path}:{line_of(MANY_ERRORS, 'kind: panic_buton')}: devices[2].kind: " in result.stderr
    assert f"{path}:{line_of(MANY_ERRORS, 'colour: blue')}: mqtt.colour: " in result.stderr
    assert f"{path}:{line_of(MANY_ERRORS, '- id: smoke-1', 2)}: devices[3].id: duplicate device id" in result.stderr
    assert f"{path}: 6 error(s)" in result.stderr


def test_registry_errors_alone_point_at_their_lines() -> None:
    text = (
        SITE
        + "devices:\n"
        + "  - {id: t1, kind: temperature, name: T, location: {building: A, floor: 1, room: 1}}\n"
        + "  - id: b1\n    kind: panic_button\n    name: B\n    location: {building: A, floor: 1, room: 2}\n"
        + "    cameras:\n      - t1\n      - nowhere\n"
    )
    table = by_key(errors(text))
    assert set(table) == {"devices[1].cameras[0]", "devices[1].cameras[1]"}
    assert table["devices[1].cameras[0]"].line == line_of(text, "- t1")
    assert table["devices[1].cameras[0]"].message == "'t1' is a temperature, not a camera"
    assert table["devices[1].cameras[1]"].line == line_of(text, "- nowhere")
    assert table["devices[1].cameras[1]"].message == "'nowhere' is not in devices"


def test_registry_check_still_holds_for_models_built_without_yaml() -> None:
    raw = yaml.safe_load(MANY_ERRORS)
    raw["site"]["name"] = "School"
    del raw["mqtt"]["colour"]
    raw["devices"][2]["kind"] = "panic_button"
    raw["sla"]["recovery_hours"] = 4
    with pytest.raises(ValueError, match="device_registry") as caught:
        HubConfig.model_validate(raw)
    assert "devices[2].cameras[1]: 'smoke-1' is a smoke, not a camera" in str(caught.value)
    assert "devices[3].id: duplicate device id: 'smoke-1'" in str(caught.value)
    raw["devices"][3]["id"] = "smoke-2"
    raw["devices"][2]["cameras"] = ["cam-1"]
    assert HubConfig.model_validate(raw).device("smoke-2") is not None


def test_yaml_syntax_error_gives_its_line() -> None:
    text = SITE + "mqtt:\n  port: 1883\n\thost: broker\n"
    (issue,) = errors(text)
    assert issue.message.startswith("not valid YAML")
    assert issue.line == line_of(text, "\thost")


def test_unclosed_flow_list_gives_a_line() -> None:
    text = "site:\n  id: s1\n  name: [unclosed\n  address: x\n"
    (issue,) = errors(text)
    assert issue.message.startswith("not valid YAML")
    assert issue.line in (3, 4)


def test_duplicate_yaml_key_is_an_error_at_the_second_occurrence() -> None:
    text = SITE + "retention:\n  days: 120\n  days: 180\n"
    (issue,) = errors(text)
    assert issue.key == "retention.days"
    assert "given twice" in issue.message
    assert issue.line == line_of(text, "days: 180")


def test_a_file_that_is_not_a_mapping_is_refused() -> None:
    (issue,) = errors("- site\n- mqtt\n")
    assert "mapping" in issue.message


def test_heat_override_on_a_smoke_detector_is_an_error() -> None:
    text = SITE + (
        "devices:\n"
        "  - id: smoke-1\n"
        "    kind: smoke\n"
        "    name: S\n"
        "    location: {building: A, floor: 1, room: 1}\n"
        "    heat_threshold_c: 70\n"
    )
    (issue,) = errors(text)
    assert issue.key == "devices[0]"
    assert "heat_threshold_c applies to temperature devices only" in issue.message
    assert issue.line == line_of(text, "- id: smoke-1")


def test_heat_override_on_a_temperature_sensor_is_used() -> None:
    text = SITE + (
        "devices:\n"
        "  - {id: t1, kind: temperature, name: T, location: {building: A, floor: 1, room: 1}, heat_threshold_c: 70}\n"
    )
    config = parse_config(text, "hub.yaml", base_dir=Path("/srv"), environ={})
    device = config.device("t1")
    assert device is not None
    assert device.heat_threshold_c == 70
    assert device.location.floor == "1"


@pytest.mark.parametrize(("hours", "ok"), [(24, True), (0.5, True), (25, False), (24.01, False), (0, False)])
def test_recovery_hours_at_most_24(hours: float, ok: bool) -> None:
    text = SITE + f"sla:\n  recovery_hours: {hours}\n"
    if ok:
        assert parse_config(text, "hub.yaml", base_dir=Path("/srv"), environ={}).sla.recovery_hours == hours
    else:
        (issue,) = errors(text)
        assert issue.key == "sla.recovery_hours"
        assert issue.line == line_of(text, "recovery_hours:")


# --- paths -------------------------------------------------------------------------------------------------------


def test_relative_storage_path_is_relative_to_the_config_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "etc" / "campus-hub"
    folder.mkdir(parents=True)
    path = folder / "hub.yaml"
    path.write_text(SITE + "storage:\n  path: data/hub.db\n", encoding="utf-8")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    config = load_config(path, environ={})
    assert config.storage.path == folder.resolve() / "data" / "hub.db"


def test_default_and_absolute_storage_paths(tmp_path: Path) -> None:
    path = tmp_path / "hub.yaml"
    path.write_text(SITE, encoding="utf-8")
    assert load_config(path, environ={}).storage.path == tmp_path.resolve() / "campus-hub.db"
    absolute = tmp_path / "var" / "hub.db"
    path.write_text(SITE + f"storage:\n  path: {absolute}\n", encoding="utf-8")
    assert load_config(path, environ={}).storage.path == absolute


def test_tls_files_must_exist_and_resolve_relative_to_the_config(tmp_path: Path) -> None:
    path = tmp_path / "hub.yaml"
    text = SITE + "mqtt:\n  port: 8883\n  tls:\n    ca_file: tls/ca.pem\n"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    (issue,) = caught.value.issues
    assert issue.key == "mqtt.tls"
    assert "no such file" in issue.message
    (tmp_path / "tls").mkdir()
    (tmp_path / "tls" / "ca.pem").write_text("not really a PEM\n", encoding="utf-8")
    tls = load_config(path, environ={}).mqtt.tls
    assert tls is not None
    assert tls.ca_file == tmp_path.resolve() / "tls" / "ca.pem"


def test_missing_config_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "nope.yaml", environ={})


# --- environment overrides -------------------------------------------------------------------------------------

TOKENS = SITE + (
    "api:\n"
    "  tokens:\n"
    "    - name: guard\n"
    "      role: guard\n"
    "    - name: admin\n"
    "      role: admin\n"
    "      token: admin-token-in-file\n"
)


def test_env_overrides_mqtt_password() -> None:
    text = SITE + "mqtt:\n  username: hub\n  password: from-the-file\n"
    config = parse_config(
        text, "hub.yaml", base_dir=Path("/srv"), environ={"CAMPUS_HUB__MQTT__PASSWORD": "from-the-env-1"}
    )
    assert config.mqtt.password is not None
    assert config.mqtt.password.get_secret_value() == "from-the-env-1"
    assert "from-the-env-1" not in repr(config)


def test_env_overrides_non_secret_keys_with_type_coercion() -> None:
    config = parse_config(
        SITE,
        "hub.yaml",
        base_dir=Path("/srv"),
        environ={"CAMPUS_HUB__MQTT__PORT": "8883", "CAMPUS_HUB__API__HOST": "192.168.10.5"},
    )
    assert config.mqtt.port == 8883
    assert config.api.host == "192.168.10.5"


def test_env_sets_a_token_by_list_item_name() -> None:
    config = parse_config(
        TOKENS,
        "hub.yaml",
        base_dir=Path("/srv"),
        environ={"CAMPUS_HUB__API__TOKENS__guard__TOKEN": "guard-token-from-env", "UNRELATED": "x"},
    )
    tokens = {t.name: t.token.get_secret_value() for t in config.api.tokens}
    assert tokens == {"guard": "guard-token-from-env", "admin": "admin-token-in-file"}


def test_env_addresses_list_items_by_index_and_case_insensitively() -> None:
    config = parse_config(
        TOKENS,
        "hub.yaml",
        base_dir=Path("/srv"),
        environ={
            "CAMPUS_HUB__API__TOKENS__0__TOKEN": "guard-by-index-1",
            "CAMPUS_HUB__API__TOKENS__ADMIN__TOKEN": "admin-upper-case-1",
        },
    )
    assert [t.token.get_secret_value() for t in config.api.tokens] == ["guard-by-index-1", "admin-upper-case-1"]


def test_env_file_variant_reads_and_strips_the_file(tmp_path: Path) -> None:
    secret = tmp_path / "guard-token"
    secret.write_text("guard-token-from-file\n", encoding="utf-8")
    config = parse_config(
        TOKENS, "hub.yaml", base_dir=tmp_path, environ={"CAMPUS_HUB__API__TOKENS__guard__TOKEN_FILE": str(secret)}
    )
    assert config.api.tokens[0].token.get_secret_value() == "guard-token-from-file"


def test_env_file_variant_with_a_missing_file_names_the_variable(tmp_path: Path) -> None:
    var = "CAMPUS_HUB__API__TOKENS__guard__TOKEN_FILE"
    issues = errors(TOKENS, {var: str(tmp_path / "missing")})
    assert issues[0].source == var
    assert "cannot read secret file" in issues[0].message
    assert var in issues[0].render("hub.yaml")


def test_token_missing_everywhere_is_reported() -> None:
    (issue,) = errors(TOKENS)
    assert issue.key == "api.tokens[0].token"
    assert issue.message == "required key is missing"
    assert issue.line == line_of(TOKENS, "- name: guard")


@pytest.mark.parametrize("text", [TOKENS, SITE + "api:\n  tokens: []\n", SITE, SITE + "api:\n  tokens:\n"])
def test_env_var_naming_an_unknown_list_item_is_an_error_naming_it(text: str) -> None:
    var = "CAMPUS_HUB__API__TOKENS__nobody__TOKEN"
    issues = errors(
        text, {var: "zq7-unknown-item-secret", "CAMPUS_HUB__API__TOKENS__guard__TOKEN": "guard-token-long-enough"}
    )
    unknown = [i for i in issues if i.source == var]
    assert len(unknown) == 1
    assert "'nobody'" in unknown[0].message
    out = rendered(issues)
    assert f"(from {var})" in out
    assert "zq7" not in out


def test_env_error_in_a_list_item_is_attributed_to_the_variable() -> None:
    text = SITE + "forwarding:\n  endpoints:\n    - {name: p110, kind: http, url: 'https://110.example.org/a'}\n"
    var = "CAMPUS_HUB__FORWARDING__ENDPOINTS__p110__URL"
    (issue,) = errors(text, {var: "not a url"})
    assert issue.key == "forwarding.endpoints[0].url"
    assert issue.source == var


def test_setting_a_whole_list_item_from_env_is_refused() -> None:
    var = "CAMPUS_HUB__API__TOKENS__guard"
    issues = errors(TOKENS, {var: "x", "CAMPUS_HUB__API__TOKENS__guard__TOKEN": "guard-token-long-enough"})
    assert [i.source for i in issues] == [var]


# --- secrets never echoed ----------------------------------------------------------------------------------------


def test_too_short_token_is_refused_without_echoing_it() -> None:
    text = SITE + "api:\n  tokens:\n    - {name: guard, role: guard, token: zq7}\n"
    (issue,) = errors(text)
    assert issue.key == "api.tokens[0].token"
    assert "shorter than 16" in issue.message
    assert "zq7" not in rendered([issue])


def test_too_short_token_from_env_is_refused_without_echoing_it() -> None:
    (issue,) = errors(TOKENS, {"CAMPUS_HUB__API__TOKENS__guard__TOKEN": "zq7"})
    assert issue.source == "CAMPUS_HUB__API__TOKENS__guard__TOKEN"
    assert "zq7" not in rendered([issue])


def test_check_config_never_prints_a_secret(tmp_path: Path) -> None:
    path = tmp_path / "hub.yaml"
    path.write_text(
        SITE
        + "mqtt:\n  password: zq7-broker\n"  # password without username: the error is on the whole section
        + "forwarding:\n  endpoints:\n"
        + "    - {name: p, kind: http, url: 'https://a.example.org/', secret: zq7-one}\n"
        + "    - {name: p, kind: http, url: 'https://b.example.org/', secret: zq7-two}\n"
        + "api:\n  tokens:\n"
        + "    - {name: g, role: guard, token: zq7}\n"
        + "    - {name: a, role: admin, token: [zq7-in-a-list]}\n",
        encoding="utf-8",
    )
    result = check_config(path)
    assert result.returncode == 2
    assert "mqtt: password given without username" in result.stderr
    assert "duplicate endpoint name" in result.stderr
    assert "api.tokens[0].token" in result.stderr
    assert "api.tokens[1].token" in result.stderr
    assert "zq7" not in result.stderr
    assert "zq7" not in result.stdout


def test_duplicate_token_values_are_refused_without_echoing_them() -> None:
    text = SITE + (
        "api:\n  tokens:\n"
        "    - {name: a, role: guard, token: zq7-the-same-value}\n"
        "    - {name: b, role: admin, token: zq7-the-same-value}\n"
    )
    (issue,) = errors(text)
    assert issue.key == "api.tokens"
    assert issue.message == "duplicate token value"
    assert "zq7" not in rendered([issue])


def test_password_in_a_url_is_redacted_in_errors() -> None:
    text = SITE + "forwarding:\n  endpoints:\n    - {name: p, kind: http, url: 'ftp://user:zq7pw@host/x'}\n"
    (issue,) = errors(text)
    assert issue.key == "forwarding.endpoints[0].url"
    assert "zq7pw" not in rendered([issue])


def test_plain_values_are_echoed_to_help_the_operator() -> None:
    text = SITE + "mqtt:\n  port: 70000\n"
    (issue,) = errors(text)
    assert issue.key == "mqtt.port"
    assert "(got 70000)" in issue.message


def test_rendering_formats() -> None:
    assert ConfigIssue("a.b", "bad", 3).render("f.yaml") == "f.yaml:3: a.b: bad"
    assert ConfigIssue("", "bad").render("f.yaml") == "f.yaml: (top level): bad"
    assert ConfigIssue("X", "bad", 3, source="X").render("f.yaml") == "f.yaml: (from X): X: bad"


def test_config_error_message_lists_every_issue() -> None:
    error = ConfigError("f.yaml", [ConfigIssue("a", "one", 1), ConfigIssue("b", "two", 2)])
    assert str(error) == textwrap.dedent(
        """\
        f.yaml:1: a: one
        f.yaml:2: b: two"""
    )


# --- DC-09 zones, hex keys and code overrides -----------------------------------------------------------------

ZONED = SITE + textwrap.dedent(
    """\
    devices:
      - {id: b1, kind: panic_button, name: B1, location: {building: A, floor: 1, room: 1}, zone: 7}
      - {id: b2, kind: panic_button, name: B2, location: {building: A, floor: 1, room: 2}}
      - {id: b3, kind: panic_button, name: B3, location: {building: A, floor: 1, room: 3}, zone: 7}
      - {id: b4, kind: panic_button, name: B4, location: {building: A, floor: 1, room: 4}, zone: 2}
    """
)


def test_zones_must_be_unique_including_the_default_ones() -> None:
    issues = by_key(errors(ZONED))
    assert set(issues) == {"devices[2].zone", "devices[3].zone"}
    assert issues["devices[2].zone"].message == "duplicate zone 7 (first at devices[0])"
    assert issues["devices[2].zone"].line == line_of(ZONED, "id: b3")
    # b2 has no zone: it is zone 2 by its place in the list, so b4 may not take 2.
    assert "zone 2 is already devices[1]'s (its place in the list)" in issues["devices[3].zone"].message


def test_explicit_zones_are_used_and_missing_ones_warned_about_with_a_dc09_endpoint() -> None:
    text = ZONED.replace("room: 1}, zone: 7}", "room: 1}, zone: 9}").replace(", zone: 2}", "}")
    config = parse_config(text, "hub.yaml", base_dir=Path("/srv/hub"), environ={})
    assert config.zones() == {"b1": 9, "b2": 2, "b3": 7, "b4": 4}
    assert not [w for w in config.warnings() if "zone" in w]  # no DC-09 centre: zones do not matter
    dc09 = "forwarding:\n  endpoints:\n    - {name: arc, kind: dc09, host: arc.example.org, port: 1, account: '1234'}\n"
    warned = parse_config(text + dc09, "hub.yaml", base_dir=Path("/srv/hub"), environ={}).warnings()
    (warning,) = [w for w in warned if "zone" in w]
    assert "devices without zone (2, e.g. 'b2')" in warning
    assert "reordering devices renumbers their zones" in warning


def test_zone_range_is_contact_ids() -> None:
    (issue,) = errors(ZONED.replace("room: 1}, zone: 7}", "room: 1}, zone: 1000}").replace(", zone: 2}", "}"))
    assert issue.key == "devices[0].zone"
    assert "less than or equal to 999" in issue.message


def dc09_endpoint(**extra: str) -> str:
    fields = ", ".join(f"{k}: {v}" for k, v in extra.items())
    return SITE + (
        "forwarding:\n  endpoints:\n"
        f"    - {{name: arc, kind: dc09, host: arc.example.org, port: 12000, account: '1234', {fields}}}\n"
    )


@pytest.mark.parametrize(
    ("encoding", "key", "problem"),
    [
        ("hex", "00" * 15, "32, 48 or 64 hex digits with key_encoding hex (AES-128, AES-192 or AES-256); it has 30"),
        ("hex", "zq" * 16, "it has 32 characters, not all of them hex digits"),
        ("ascii", "00" * 20, "key must be 16, 24 or 32 ASCII characters"),
    ],
)
def test_key_length_is_checked_per_encoding_and_the_key_is_never_echoed(encoding: str, key: str, problem: str) -> None:
    text = dc09_endpoint(key_encoding=encoding, key=f"'{key}'")
    (issue,) = errors(text)
    assert issue.key == "forwarding.endpoints[0].key"
    assert problem in issue.message
    assert issue.line == line_of(text, "name: arc")
    assert key not in rendered([issue])


def test_hex_keys_of_each_aes_size_decode_to_bytes() -> None:
    for size in (16, 24, 32):
        text = dc09_endpoint(key_encoding="hex", key=f"'{'A5' * size}'")
        (endpoint,) = parse_config(text, "hub.yaml", base_dir=Path("/srv/hub"), environ={}).forwarding.endpoints
        assert not isinstance(endpoint, HttpEndpoint)
        assert endpoint.key_bytes() == bytes([0xA5]) * size
    (plain,) = parse_config(
        dc09_endpoint(key="'0123456789ABCDEF'"), "hub.yaml", base_dir=Path("/srv/hub"), environ={}
    ).forwarding.endpoints
    assert not isinstance(plain, HttpEndpoint)
    assert (plain.key_encoding, plain.key_bytes(), plain.troubles) == ("ascii", b"0123456789ABCDEF", True)


def test_code_overrides_name_known_kinds_and_valid_codes() -> None:
    (issue,) = errors(dc09_endpoint(codes="{smoke_alarm: {cid: 110, sia: FA, sia_restore: FH}}"))
    assert issue.key == "forwarding.endpoints[0].codes"
    assert "no such event kind: smoke_alarm" in issue.message
    (issue,) = errors(dc09_endpoint(codes="{tamper: {cid: 137, sia: ta, sia_restore: TR}}"))
    assert issue.key == "forwarding.endpoints[0].codes.tamper.sia"
