"""Per-endpoint alarm kinds in the configuration: the default, the refusal of a kind nobody takes, the 110 warning."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from alerts.model import AlarmKind
from hub.config import HubConfig
from hub.config.loader import ConfigError, parse_config

REPO = Path(__file__).resolve().parents[2]
SITE = "site:\n  id: s1\n  name: Test School\n  address: 1 Test Road\n"


def _config(endpoints: str) -> str:
    return SITE + "forwarding:\n  endpoints:\n" + endpoints


def _parse(text: str) -> HubConfig:
    return parse_config(text, "hub.yaml", base_dir=Path("/srv/hub"), environ={})


def test_absent_alarm_kinds_takes_every_kind_of_the_enum() -> None:
    config = _parse(_config("    - {name: centre, kind: http, url: 'https://c.example.org/a'}\n"))
    for kind in AlarmKind:  # members added later are taken too: nothing lists the kinds here
        assert config.forwarding.endpoints_for(kind) == ["centre"]


def test_each_kind_goes_to_the_endpoints_that_take_it_in_order() -> None:
    config = _parse(
        _config(
            "    - {name: police_110, kind: http, url: 'https://110.example.org/a', alarm_kinds: [panic]}\n"
            "    - {name: fire_room, kind: http, url: 'https://119.example.org/a', alarm_kinds: [fire, heat]}\n"
            "    - {name: bureau, kind: http, url: 'https://b.example.org/a'}\n"
        )
    )
    assert config.forwarding.endpoints_for(AlarmKind.PANIC) == ["police_110", "bureau"]
    assert config.forwarding.endpoints_for(AlarmKind.FIRE) == ["fire_room", "bureau"]
    assert config.forwarding.endpoints_for(AlarmKind.HEAT) == ["fire_room", "bureau"]
    assert not [w for w in config.warnings() if "looks like the police 110" in w]


def test_a_kind_no_endpoint_takes_is_refused_naming_the_kind() -> None:
    text = _config(
        "    - {name: police_110, kind: http, url: 'https://110.example.org/a', alarm_kinds: [panic]}\n"
        "    - name: arc\n      kind: dc09\n      host: arc.example.org\n      port: 12000\n"
        "      account: '1234'\n      alarm_kinds: [heat]\n"
    )
    with pytest.raises(ConfigError) as caught:
        _parse(text)
    (issue,) = caught.value.issues
    assert issue.key.startswith("forwarding")
    assert "no endpoint takes alarm kind fire" in issue.message
    assert "heat" not in issue.message.split(":")[0]


def test_an_unknown_kind_is_refused() -> None:
    text = _config("    - {name: c, kind: http, url: 'https://c.example.org/a', alarm_kinds: [panic, fyre]}\n")
    with pytest.raises(ConfigError) as caught:
        _parse(text)
    assert any(i.key.startswith("forwarding.endpoints[0].alarm_kinds") for i in caught.value.issues)


def test_no_endpoints_at_all_is_still_only_a_warning() -> None:
    config = _parse(SITE)
    assert any("forwarding.endpoints is empty" in w for w in config.warnings())


@pytest.mark.parametrize(
    ("endpoint", "warned"),
    [
        ("{name: police_110, kind: http, url: 'https://110.example.org/a'}", "fire, heat (alarm_kinds is absent"),
        ("{name: Police, kind: http, url: 'https://p.example.org/a', alarm_kinds: [panic, fire]}", "takes fire ("),
        ("{name: police_110, kind: http, url: 'https://110.example.org/a', alarm_kinds: [panic]}", None),
        ("{name: duty_room, kind: http, url: 'https://d.example.org/a'}", None),
    ],
)
def test_fire_sent_to_an_endpoint_named_110_is_warned(endpoint: str, warned: str | None) -> None:
    text = _config(f"    - {endpoint}\n")
    if warned is None or "panic, fire" in endpoint:
        text += "    - {name: fire_room, kind: http, url: 'https://119.example.org/a', alarm_kinds: [fire, heat]}\n"
    warnings = [w for w in _parse(text).warnings() if "looks like the police 110" in w]
    if warned is None:
        assert warnings == []
    else:
        (warning,) = warnings
        assert warned in warning
        assert "forwarding.endpoints[0]" in warning


def test_a_kind_listed_twice_is_refused() -> None:
    text = _config(
        "    - {name: c, kind: http, url: 'https://c.example.org/a', alarm_kinds: [panic, fire, heat, panic]}\n"
    )
    with pytest.raises(ConfigError) as caught:
        _parse(text)
    (issue,) = caught.value.issues
    assert issue.key == "forwarding.endpoints[0].alarm_kinds"
    assert "duplicate alarm kind: 'panic'" in issue.message


def test_check_config_exits_2_naming_the_kind_nobody_takes(tmp_path: Path) -> None:
    path = tmp_path / "hub.yaml"
    path.write_text(
        _config("    - {name: police_110, kind: http, url: 'https://110.example.org/a', alarm_kinds: [panic, heat]}\n"),
        encoding="utf-8",
    )
    result = subprocess.run(
        [sys.executable, "-m", "hub", "check-config", str(path)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stdout
    assert "no endpoint takes alarm kind fire" in result.stderr
    assert "hub.yaml" in result.stderr
