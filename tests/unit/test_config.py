import pytest

from pipecat_roark.config import build_settings, call_id_from_runner_args, resolve_call_id


def test_agent_id_required_with_a_clear_message():
    with pytest.raises(ValueError, match="agent_id is required"):
        build_settings(agent_id="", env={})
    with pytest.raises(ValueError, match="agent_id"):
        build_settings(agent_id=None, env={})


def test_wrong_types_fail_at_construction():
    with pytest.raises(TypeError, match="is_test"):
        build_settings(agent_id="a", is_test="yes", env={})
    with pytest.raises(TypeError, match="metadata"):
        build_settings(agent_id="a", metadata=["x"], env={})
    with pytest.raises(ValueError, match="JSON-serializable"):
        build_settings(agent_id="a", metadata={"x": object()}, env={})
    with pytest.raises(ValueError, match="https"):
        build_settings(agent_id="a", base_url="http://example.com", api_key="k", env={})


def test_environment_and_arguments():
    env = {"ROARK_API_KEY": "envkey", "ROARK_INTEGRATION_ID": "int1"}
    s = build_settings(agent_id="a", env=env)
    assert s.api_key == "envkey" and s.integration_id == "int1" and s.enabled
    assert s.headers == {"x-roark-api-key": "envkey", "Authorization": "Bearer envkey"}
    assert build_settings(agent_id="a", api_key="argkey", env=env).api_key == "argkey"
    assert "envkey" not in repr(s)


@pytest.mark.parametrize("value", ["false", "0", "no", "OFF", " False "])
def test_kill_switch(value):
    s = build_settings(agent_id="a", api_key="k", env={"ROARK_OBSERVABILITY_ENABLED": value})
    assert not s.enabled


def test_no_key_is_inert_for_remote_but_fine_for_local():
    assert not build_settings(agent_id="a", env={}).enabled
    assert build_settings(agent_id="a", base_url="http://127.0.0.1:8790", env={}).enabled


class Conn:
    pc_id = "pc-123"


class Args:
    def __init__(self, **kw):
        self.__dict__.update(kw)


def test_call_id_sources():
    assert call_id_from_runner_args(Args(webrtc_connection=Conn(), session_id="s")) == "pc-123"
    assert call_id_from_runner_args({"session_id": "sess-9"}) == "sess-9"
    assert call_id_from_runner_args(Args(session_id=None)) is None
    assert resolve_call_id("explicit", {"session_id": "s"}) == "explicit"
    assert len(resolve_call_id(None, None)) == 36
    with pytest.raises(ValueError):
        resolve_call_id("  ", None)
