"""RoarkObserver takes every argument the published 0.2.x took, and rejects typos (issue 13).

The 0.2.x README constructs the observer as below (names only carried over:
api_key, agent_id, runner_args, agent_name, agent_prompt,
audio_buffer_processor, pipecat_call_id). Nothing is started: construction
only, with a loopback base URL so nothing could ever leave the machine.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from pipecat.processors.audio.audio_buffer_processor import AudioBufferProcessor

from pipecat_roark import RoarkObserver

SYSTEM_PROMPT = "You are a helpful support agent."


@pytest.fixture(autouse=True)
def _loopback(monkeypatch, tmp_path):
    monkeypatch.setenv("ROARK_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("ROARK_SPOOL_DIR", str(tmp_path / "spool"))
    monkeypatch.delenv("ROARK_OBSERVABILITY_ENABLED", raising=False)


def test_the_0_2_x_quick_start_call_works():
    runner_args = SimpleNamespace(session_id="pcc-session-1", webrtc_connection=None)
    roark = RoarkObserver(
        api_key="rk_live_replace_me",
        agent_id="support-bot-v3",
        runner_args=runner_args,
        agent_name="Support Bot v3",
        agent_prompt=SYSTEM_PROMPT,
    )
    assert roark.enabled
    assert roark.pipecat_call_id == "pcc-session-1"
    assert isinstance(roark.audio_processor, AudioBufferProcessor)
    assert roark._settings.api_key == "rk_live_replace_me"
    assert roark._settings.agent_name == "Support Bot v3"
    assert roark._settings.agent_prompt == SYSTEM_PROMPT


def test_the_0_2_x_bring_your_own_buffer_call_works():
    audio_buffer = AudioBufferProcessor(sample_rate=16000, num_channels=1, buffer_size=128 * 1024)
    runner_args = SimpleNamespace(webrtc_connection=SimpleNamespace(pc_id="pc-1"))
    roark = RoarkObserver(
        api_key="rk_live_replace_me",
        agent_id="support-bot-v3",
        runner_args=runner_args,
        audio_buffer_processor=audio_buffer,
    )
    assert roark.audio_processor is audio_buffer
    assert roark.pipecat_call_id == "pc-1"


def test_every_0_2_x_argument_name_is_accepted_together():
    # pipecat_call_id was deprecated and ignored in 0.2.x; here it is accepted and wins.
    roark = RoarkObserver(
        api_key="k", agent_id="a", runner_args=None, agent_name=None, agent_prompt=None,
        audio_buffer_processor=None, pipecat_call_id="explicit-id",
    )
    assert roark.pipecat_call_id == "explicit-id"


@pytest.mark.parametrize(
    "typo, suggestion",
    [("api_kye", "api_key"), ("base_ulr", "base_url"), ("agent_promt", "agent_prompt"), ("spool_dri", "spool_dir")],
)
def test_a_misspelled_argument_fails_with_a_suggestion(typo, suggestion):
    with pytest.raises(TypeError, match=rf"'{typo}' \(did you mean '{suggestion}'\?\)"):
        RoarkObserver(agent_id="a", **{typo: "x"})


def test_pipecat_base_arguments_are_still_accepted():
    roark = RoarkObserver(agent_id="a", api_key="k", name="my-roark")
    assert roark.name == "my-roark"
    # 1.12+ reads it; older Pipecat ignores it: accepted on both.
    RoarkObserver(agent_id="a", api_key="k", observe_every_push=False)


def test_agent_id_must_be_a_string():
    with pytest.raises(TypeError, match="agent_id must be a string"):
        RoarkObserver(agent_id=123)


def test_spool_dir_off_turns_the_spool_off(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    roark = RoarkObserver(agent_id="a", api_key="k", spool_dir="off")
    assert roark._settings.spool_dir is None
    assert not (tmp_path / "off").exists()
