"""Config: lookup order, validation with one-line errors, CLI overrides, the README reference."""

from __future__ import annotations

import pytest

from edge_emojify import config
from edge_emojify.errors import UserError


def write(tmp_path, text, name="config.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_defaults_without_any_file(monkeypatch, tmp_path):
    monkeypatch.delenv("EDGE_EMOJIFY_CONFIG", raising=False)
    monkeypatch.setattr(config, "SYSTEM_CONFIG", tmp_path / "absent.toml")
    cfg, path = config.load(None)
    assert path is None and cfg == config.Config()


def test_lookup_order_flag_then_env_then_system(monkeypatch, tmp_path):
    system = write(tmp_path, "[display]\nmode = 'panel'\n", "system.toml")
    env = write(tmp_path, "[display]\nmode = 'emoji'\n", "env.toml")
    flag = write(tmp_path, "[display]\nmode = 'debug'\n", "flag.toml")
    monkeypatch.setattr(config, "SYSTEM_CONFIG", system)
    monkeypatch.delenv("EDGE_EMOJIFY_CONFIG", raising=False)
    assert config.load(None)[0].display.mode == "panel"
    monkeypatch.setenv("EDGE_EMOJIFY_CONFIG", str(env))
    assert config.load(None)[0].display.mode == "emoji"
    assert config.load(str(flag))[0].display.mode == "debug"


@pytest.mark.parametrize("text,message", [
    ("[display]\nsinkk = 'null'\n", r"unknown key \[display\].sinkk; allowed: sink, mode"),
    ("[displays]\n", r"unknown section \[displays\]"),
    ("[display]\nmode = 'party'\n", r"\[display\].mode is 'party'; allowed: 'mirror', 'panel'"),
    ("[detector]\nmax_faces = 'six'\n", r"\[detector\].max_faces must be a whole number"),
    ("[detector]\nmax_faces = 0\n", r"\[detector\].max_faces is 0; allowed: 1 to 50"),
    ("[button]\nenabled = 1\n", r"\[button\].enabled must be true or false"),
    ("[display\nmode = 1\n", r"not valid TOML"),
])
def test_bad_keys_and_values_are_one_line_errors_naming_them(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(UserError, match=message) as err:
        config.load(str(path))
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_missing_file_and_unreadable_file(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        config.load(str(tmp_path / "nope.toml"))
    bad = tmp_path / "latin1.toml"
    bad.write_bytes(b"[display]\nmode = '\xe9'\n")
    with pytest.raises(UserError, match="UTF-8"):
        config.load(str(bad))


def test_set_overrides_keep_other_keys_and_are_validated(tmp_path):
    cfg, _ = config.load(str(write(tmp_path, "[detector]\nmin_score = 0.7\n")))
    cfg = config.override(cfg, ["detector.max_faces=3", "display.mode=debug"])
    assert (cfg.detector.max_faces, cfg.detector.min_score, cfg.display.mode) == (3, 0.7, "debug")
    with pytest.raises(UserError, match="must look like section.key=value"):
        config.override(cfg, ["max_faces=3"])
    with pytest.raises(UserError, match=r"\[detector\].max_faces"):
        config.override(cfg, ["detector.max_faces=99"])


def test_toml_round_trip_and_reference_lists_every_key():
    cfg = config.Config()
    import tomllib

    assert config.from_dict(tomllib.loads(config.to_toml(cfg))) == cfg
    reference = config.reference_markdown()
    for section, values in tomllib.loads(config.to_toml(cfg)).items():
        for key in values:
            assert f"`{section}.{key}`" in reference


def test_a_path_with_quotes_and_backslashes_survives_the_round_trip():
    """`edge-emojify config` output is meant to become a config file: any path must come back."""
    import tomllib

    cfg = config.override(config.Config(), ['source.path=/home/pi/Bob\'s "best" clips\\a.mp4'])
    assert config.from_dict(tomllib.loads(config.to_toml(cfg))) == cfg


def test_readme_config_reference_is_current():
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    assert config.reference_markdown() in readme, "regenerate with: edge-emojify config --reference"


@pytest.mark.parametrize("text,new", [
    ("[tracking]\nsmoothing = 0.25\n", r"\[decision\].smoothing_seconds"),
    ("[tracking]\nhysteresis = 0.12\n", r"\[decision\].hysteresis"),
    ("[tracking]\nmax_missed = 8\n", r"\[tracking\].expire_seconds"),
])
def test_keys_of_the_first_release_are_refused_naming_their_replacement(tmp_path, text, new):
    path = write(tmp_path, text)
    with pytest.raises(UserError, match=r"was renamed; use " + new) as err:
        config.load(str(path))
    assert "\n" not in str(err.value)
    with pytest.raises(UserError, match=new):
        config.override(config.Config(), [text.split("\n")[0].strip("[]") + "." + text.split("\n")[1].replace(" ", "")])


def test_decision_settings_are_seconds_with_inclusive_bounds(tmp_path):
    cfg, _ = config.load(str(write(tmp_path, "[decision]\nsmoothing_seconds = 0\ndwell_seconds = 10\n"
                                             "unsure_face = 'keep'\n[tracking]\nexpire_seconds = 30\n")))
    assert (cfg.decision.smoothing_seconds, cfg.decision.dwell_seconds, cfg.tracking.expire_seconds) == (0, 10, 30)
    with pytest.raises(UserError, match=r"\[decision\].unsure_face is 'sometimes'; allowed: 'thinking'"):
        config.override(cfg, ["decision.unsure_face=sometimes"])


def _bounded_fields():
    import dataclasses
    import typing

    for name, cls in config._sections().items():
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            if f.metadata.get("lo") is not None:
                yield name, f.name, hints[f.name], f.metadata["lo"], f.metadata["hi"]


@pytest.mark.parametrize("section,key,kind,lo,hi", list(_bounded_fields()))
def test_every_bound_is_inclusive_at_both_ends_and_enforced_just_outside(section, key, kind, lo, hi):
    step = 1 if kind is int else 1e-6
    for value in (lo, hi):
        cfg = config.from_dict({section: {key: kind(value)}})
        assert getattr(getattr(cfg, section), key) == value
    for value in (lo - step, hi + step):
        with pytest.raises(UserError, match=rf"\[{section}\].{key} is .*; allowed: "):
            config.from_dict({section: {key: kind(value)}})


def test_documented_examples_of_bounds_hold():
    assert config.from_dict({"decision": {"smoothing_seconds": 0}}).decision.smoothing_seconds == 0
    assert config.from_dict({"detector": {"min_score": 1}}).detector.min_score == 1.0


def test_types_are_checked_for_every_kind_of_key(tmp_path):
    with pytest.raises(UserError, match=r"\[detector\].min_score must be a number, got True"):
        config.from_dict({"detector": {"min_score": True}})  # TOML's true is not 1.0
    with pytest.raises(UserError, match=r"\[display\].output must be a string in quotes, got 5"):
        config.from_dict({"display": {"output": 5}})
    with pytest.raises(UserError, match=r"unknown section \[nope\]; allowed: source, detector, emotion, tracking, "
                                        r"decision, display, button, snapshots, web$"):
        config.from_dict({"nope": {}})


def test_set_values_may_hold_an_equals_sign_and_errors_name_the_flag(tmp_path):
    cfg = config.override(config.Config(), ["display.output=/tmp/a=b.mp4"])
    assert cfg.display.output == "/tmp/a=b.mp4"
    with pytest.raises(UserError, match=r"^--set: \[detector\].max_faces is 99"):
        config.override(cfg, ["detector.max_faces=99"])


def test_unreadable_file_names_what_to_check(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(UserError, match=r"check its permissions and encoding \(UTF-8\)"):
        config.load(str(bad))
