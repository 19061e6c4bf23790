"""check-config on the new kinds' settings: levels outside the standards' ranges, a pre-alarm not below its alarm,
settings on the wrong kind, unknown arming zones and unquoted times are refused, each at its own YAML line."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.config.loader import ConfigError, parse_config

HEAD = """\
site: {id: s, name: School, address: Road 1}
arming_zones:
  - id: finance
    name: 财务室
devices:
"""


def device(kind: str, extra: str) -> str:
    return f"""\
  - id: d-{kind}
    kind: {kind}
    name: {kind}
    location: {{building: A, floor: "1", room: r}}
{extra}"""


def issues(text: str) -> list[tuple[str, int | None, str]]:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "hub.yaml", base_dir=Path("."), environ={})
    return [(issue.key, issue.line, issue.message) for issue in caught.value.issues]


@pytest.mark.parametrize(
    ("kind", "extra", "key", "fragment"),
    [
        ("electrical_fire", "    residual_alarm_ma: 1500\n", "devices[0].residual_alarm_ma", "1000"),
        ("electrical_fire", "    residual_alarm_ma: 10\n", "devices[0].residual_alarm_ma", "20"),
        ("electrical_fire", "    temperature_alarm_c: 150\n", "devices[0].temperature_alarm_c[0]", "140"),
        ("electrical_fire", "    temperature_alarm_c: [70, 50]\n", "devices[0].temperature_alarm_c[1]", "55"),
        ("gas", "    gas_low_lel_pct: 30\n", "devices[0].gas_low_lel_pct", "25"),
        ("gas", "    gas_high_lel_pct: 60\n", "devices[0].gas_high_lel_pct", "50"),
        ("co", "    co_high_ppm: 400\n", "devices[0].co_high_ppm", "300"),
        ("smoke", "    residual_alarm_ma: 300\n", "devices[0]", "applies to electrical_fire devices only"),
        ("smoke", "    arming_zone: finance\n", "devices[0]", "applies to door and intrusion devices only"),
        ("gas", "    format: tasmota\n    source_topic: gas1\n", "devices[0]", "format tasmota is available for"),
        ("door", "    arming_zone: archive\n", "devices[0].arming_zone", "'archive' is not in arming_zones"),
        ("door", "    must_be_shut: [{start: 22:00, end: \"06:00\"}]\n", "devices[0].must_be_shut[0].start", "quoted"),
    ],
)  # fmt: skip
def test_a_bad_setting_is_refused_at_its_line(kind: str, extra: str, key: str, fragment: str) -> None:
    text = HEAD + device(kind, extra)
    found = issues(text)
    assert len(found) == 1, found
    (where, line, message) = found[0]
    assert where == key
    assert fragment in message
    # The line is the key's own (line 10, after the device's four), or the device's first for a rule across keys.
    assert line == (6 if key == "devices[0]" else 10)


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        ("    residual_alarm_ma: 300\n    residual_prealarm_ma: 300\n", "residual_prealarm_ma must be below"),
        ("    residual_prealarm_ma: 320\n", "below residual_alarm_ma (300 mA)"),  # the default alarm level
        ("    temperature_alarm_c: [70, 90]\n    temperature_prealarm_c: [60, 95]\n", "channel 2 (95 °C)"),
    ],
)
def test_a_prealarm_must_be_below_its_alarm(extra: str, fragment: str) -> None:
    (found,) = issues(HEAD + device("electrical_fire", extra))
    assert fragment in found[2]


def test_gas_low_must_be_below_high_and_zone_ids_are_unique() -> None:
    (found,) = issues(HEAD + device("gas", "    gas_low_lel_pct: 20\n    gas_high_lel_pct: 15\n"))
    assert "gas_low_lel_pct (20) must be below gas_high_lel_pct (15)" in found[2]
    twice = HEAD.replace("devices:\n", "  - id: finance\n    name: again\ndevices:\n")
    keys = [key for key, _, _ in issues(twice + device("door", "    arming_zone: finance\n"))]
    assert keys == ["arming_zones"]


def test_valid_settings_load() -> None:
    extra = "    residual_alarm_ma: 500\n    temperature_alarm_c: [55, 140]\n    temperature_prealarm_c: 50\n"
    text = (
        HEAD + device("electrical_fire", extra) + device("door", '    must_be_shut: [{start: "22:00", end: "06:00"}]\n')
    )
    config = parse_config(text, "hub.yaml", base_dir=Path("."), environ={})
    assert config.devices[0].temperature_alarm_c == [55.0, 140.0]
    assert config.devices[1].must_be_shut[0].start == "22:00"
