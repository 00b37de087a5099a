"""Arguments a newcomer gets wrong fail at construction with a message naming the fix (issue 13)."""

from __future__ import annotations


import pytest

from pipecat_roark.config import (
    build_settings,
    check_unknown_kwargs,
    env_value,
    init_argument_names,
    observer_argument_names,
    resolve_spool_dir,
)

KNOWN = ["agent_id", "api_key", "base_url", "spool_dir", "name", "observe_every_push"]


def test_known_arguments_pass():
    check_unknown_kwargs({}, KNOWN)
    check_unknown_kwargs({"name": "roark", "observe_every_push": True}, KNOWN)


def test_one_misspelled_argument_is_named_with_the_closest_real_one():
    with pytest.raises(TypeError) as e:
        check_unknown_kwargs({"api_kye": "k"}, KNOWN)
    msg = str(e.value)
    assert "an unexpected keyword argument" in msg
    assert "'api_kye' (did you mean 'api_key'?)" in msg


def test_every_unknown_argument_is_named():
    with pytest.raises(TypeError) as e:
        check_unknown_kwargs({"api_kye": "k", "agent_id": "a", "base_ulr": "u", "zzzz": 1}, KNOWN)
    msg = str(e.value)
    assert "unexpected keyword arguments" in msg
    assert "'api_kye' (did you mean 'api_key'?)" in msg
    assert "'base_ulr' (did you mean 'base_url'?)" in msg
    # Nothing close: named without a guess, and the valid names are listed.
    assert "'zzzz'" in msg and "'zzzz' (did you mean" not in msg
    assert "Valid arguments: agent_id, api_key, base_url, name, observe_every_push, spool_dir" in msg
    assert "'agent_id'" not in msg.split("Valid")[0]


class _Base:
    def __init__(self, *, name=None, **kwargs):
        pass


class _Mid(_Base):
    def __init__(self, *, observe_every_push=True, **kwargs):
        super().__init__(**kwargs)


class _Leaf(_Mid):
    def __init__(self, *, agent_id, api_key=None, **kwargs):
        super().__init__(**kwargs)


def test_init_argument_names_walks_the_mro():
    assert init_argument_names(_Leaf) == {"agent_id", "api_key", "observe_every_push", "name"}
    assert init_argument_names(_Base) == {"name"}
    assert observer_argument_names(_Base) == {"name", "observe_every_push"}


def test_pipecat_base_observer_arguments_are_legitimate():
    from pipecat.observers.base_observer import BaseObserver

    from pipecat_roark.observer import RoarkObserver

    names = init_argument_names(RoarkObserver)
    # BaseObject.__init__ takes name= on every supported Pipecat.
    assert "name" in names
    for base_name in init_argument_names(BaseObserver):
        assert base_name in names
    assert {"agent_id", "api_key", "runner_args", "audio_buffer_processor", "pipecat_call_id"} <= names
    assert "kwargs" not in names and "self" not in names


def test_agent_id_of_the_wrong_type_is_a_type_error():
    with pytest.raises(TypeError, match="agent_id must be a string, got int"):
        build_settings(agent_id=123, env={})
    with pytest.raises(TypeError, match="agent_id must be a string"):
        build_settings(agent_id=b"bytes", env={})
    # Missing or blank is still "required".
    with pytest.raises(ValueError, match="agent_id is required"):
        build_settings(agent_id=None, env={})
    with pytest.raises(ValueError, match="agent_id is required"):
        build_settings(agent_id="   ", env={})


@pytest.mark.parametrize("word", ["off", "OFF", "false", "no", "0", " Off "])
def test_spool_off_words_mean_off_in_the_argument_as_in_the_environment(word):
    assert resolve_spool_dir(word, env={}) is None
    assert resolve_spool_dir(None, env={"ROARK_SPOOL_DIR": word}) is None
    assert build_settings(agent_id="a", spool_dir=word, env={}).spool_dir is None


def test_spool_dir_paths_still_work(tmp_path):
    assert resolve_spool_dir(str(tmp_path / "offline"), env={}) == tmp_path / "offline"
    assert resolve_spool_dir(tmp_path, env={}) == tmp_path
    assert resolve_spool_dir(None, env={"ROARK_SPOOL_DIR": str(tmp_path)}) == tmp_path
    assert resolve_spool_dir(False, env={"ROARK_SPOOL_DIR": str(tmp_path)}) is None


def test_empty_environment_values_mean_unset(tmp_path):
    env = {
        "ROARK_API_KEY": "",
        "ROARK_BASE_URL": "  ",
        "ROARK_INTEGRATION_ID": "",
        "ROARK_OBSERVABILITY_ENABLED": "",
        "ROARK_SPOOL_DIR": "",
        "XDG_STATE_HOME": str(tmp_path),
    }
    s = build_settings(agent_id="a", env=env)
    assert s.api_key is None and s.integration_id is None
    assert s.base_url == "https://api.roark.ai"
    assert not s.enabled and s.disabled_reason == "no API key"  # not "observability off"
    assert s.spool_dir == tmp_path / "pipecat-roark" / "spool"
    assert env_value({"X": " v "}, "X") == "v"
    assert env_value({"X": ""}, "X") is None and env_value({}, "X") is None
