"""The telephony object from REAL Pipecat serializers, transports and runner arguments (placeholder values)."""

import json

import pytest
from pipecat.pipeline.pipeline import Pipeline
from pipecat.serializers.exotel import ExotelFrameSerializer
from pipecat.serializers.genesys import GenesysAudioHookSerializer
from pipecat.serializers.plivo import PlivoFrameSerializer
from pipecat.serializers.telnyx import TelnyxFrameSerializer
from pipecat.serializers.twilio import TwilioFrameSerializer
from pipecat.serializers.vonage import VonageFrameSerializer

from pipecat_roark._compat import PipelineWorker
from pipecat_roark.models import CallStarted
from pipecat_roark.redaction import Redactor
from pipecat_roark.telephony import (
    find_serializer,
    find_transport,
    find_worker,
    from_runner,
    from_serializer,
    telephony_context,
)

try:  # 1.x
    from pipecat.transports.websocket.server import (
        SingleClientWebsocketServerParams as ServerParams,
        SingleClientWebsocketServerTransport as ServerTransport,
    )
except ImportError:  # 0.0.10x
    from pipecat.transports.websocket.server import WebsocketServerParams as ServerParams
    from pipecat.transports.websocket.server import WebsocketServerTransport as ServerTransport


def twilio(**kw):
    return TwilioFrameSerializer(stream_sid="MZ000stream", call_sid="CA000call", account_sid="AC000acct",
                                 auth_token="secret-token-never-read", **kw)


def test_twilio():
    assert from_serializer(twilio()) == {
        "provider": "twilio", "call_id": "CA000call", "stream_id": "MZ000stream", "account_id": "AC000acct",
        "carrier_sample_rate": 8000, "encoding": "PCMU"}
    custom = twilio(params=TwilioFrameSerializer.InputParams(twilio_sample_rate=16000))
    assert from_serializer(custom)["carrier_sample_rate"] == 16000


def test_telnyx():
    s = TelnyxFrameSerializer(stream_id="tx-stream", outbound_encoding="PCMA", inbound_encoding="PCMA",
                              call_control_id="v3:ctrl", api_key="KEY-never-read")
    assert from_serializer(s) == {"provider": "telnyx", "call_id": "v3:ctrl", "stream_id": "tx-stream",
                                  "carrier_sample_rate": 8000, "encoding": "PCMA"}


def test_plivo_exotel_vonage():
    assert from_serializer(PlivoFrameSerializer(stream_id="pl-stream", call_id="pl-call", auth_id="x",
                                                auth_token="y")) == {
        "provider": "plivo", "call_id": "pl-call", "stream_id": "pl-stream", "carrier_sample_rate": 8000,
        "encoding": "PCMU"}
    assert from_serializer(ExotelFrameSerializer(stream_sid="ex-stream", call_sid="ex-call")) == {
        "provider": "exotel", "call_id": "ex-call", "stream_id": "ex-stream", "carrier_sample_rate": 8000,
        "encoding": "L16"}
    assert from_serializer(VonageFrameSerializer()) == {"provider": "vonage", "carrier_sample_rate": 16000,
                                                         "encoding": "L16"}


async def test_genesys_learns_the_call_from_the_open_message():
    s = GenesysAudioHookSerializer()
    before = from_serializer(s)
    assert before == {"provider": "genesys", "carrier_sample_rate": 8000, "encoding": "PCMU"}  # no placeholder id
    open_msg = {
        "version": "2", "type": "open", "seq": 1, "clientseq": 1, "id": "sess-1", "position": "PT0S",
        "parameters": {
            "organizationId": "org", "conversationId": "conv-1",
            "participant": {"id": "p", "ani": "tel:+15550001111", "aniName": "A", "dnis": "+15550002222"},
            "media": [{"type": "audio", "format": "PCMU", "channels": ["external"], "rate": 8000}],
        },
    }
    await s.deserialize(json.dumps(open_msg))  # the real path a Genesys "open" takes
    assert from_serializer(s) == {
        "provider": "genesys", "call_id": "conv-1", "stream_id": "sess-1", "carrier_sample_rate": 8000,
        "encoding": "PCMU", "from_number": "+15550001111", "to_number": "+15550002222"}


async def test_a_serializer_is_found_in_a_real_pipeline_and_worker():
    transport = ServerTransport(params=ServerParams(serializer=twilio()), host="127.0.0.1", port=0)
    inner = Pipeline([transport.input()])
    pipeline = Pipeline([inner, transport.output()])
    assert find_serializer(pipeline) is transport._params.serializer
    worker = PipelineWorker(Pipeline([transport.input(), transport.output()]))
    assert find_serializer(worker) is transport._params.serializer and find_transport(worker) is transport
    assert find_worker(worker) is worker and find_worker(pipeline) is None
    assert find_serializer([transport.output()]) is transport._params.serializer
    assert find_transport(pipeline) is transport
    tel = telephony_context(pipeline)
    assert (tel.provider, tel.call_id, tel.carrier_sample_rate) == ("twilio", "CA000call", 8000)
    assert find_serializer(Pipeline([])) is None
    assert telephony_context(Pipeline([])) is None
    assert telephony_context([object(), None]) is None


def test_twilio_numbers_and_direction_from_the_runner_call_data():
    # The shape parse_telephony_websocket() returns (a dict on 0.0.10x; 1.x's CallData reads the same).
    call_data = {"stream_id": "MZ000stream", "call_id": "CA000call",
                 "body": {"from_number": "+15550001111", "to_number": "+15550002222", "direction": "outbound-api"}}
    assert from_runner(transport_type="twilio", call_data=call_data) == {
        "provider": "twilio", "call_id": "CA000call", "stream_id": "MZ000stream",
        "from_number": "+15550001111", "to_number": "+15550002222", "direction": "outbound"}
    transport = ServerTransport(params=ServerParams(serializer=twilio()), host="127.0.0.1", port=0)
    tel = telephony_context([transport.input()], transport_type="twilio", call_data=call_data)
    assert tel.to_wire() == {
        "provider": "twilio", "callId": "CA000call", "streamId": "MZ000stream", "accountId": "AC000acct",
        "fromNumber": "+15550001111", "toNumber": "+15550002222", "direction": "outbound",
        "carrierSampleRate": 8000, "encoding": "PCMU"}


def test_runner_data_of_another_provider_does_not_mix_in():
    transport = ServerTransport(params=ServerParams(serializer=twilio()), host="127.0.0.1", port=0)
    tel = telephony_context([transport.input()], transport_type="telnyx",
                            call_data={"stream_id": "x", "call_control_id": "y", "from": "+15550003333"})
    assert tel.from_number is None and tel.call_id == "CA000call"


def test_pipecat_1x_runner_arguments():
    types = pytest.importorskip("pipecat.runner.types")
    if not hasattr(types, "CallData"):
        pytest.skip("CallData arrived in 1.x")
    data = types.TelnyxCallData.model_validate(
        {"stream_id": "tx", "call_id": "v3:ctrl", "from": "+15550001111", "to": "+15550002222",
         "outbound_encoding": "PCMU"})
    args = types.WebSocketRunnerArguments(websocket=None, transport_type="telnyx", call_data=data)
    assert from_runner(args) == {"provider": "telnyx", "call_id": "v3:ctrl", "stream_id": "tx",
                                 "encoding": "PCMU", "from_number": "+15550001111", "to_number": "+15550002222"}


def test_daily_dial_in_and_dial_out_from_the_runner_body():
    types = pytest.importorskip("pipecat.runner.types")
    request = types.DailyDialinRequest(
        dialin_settings=types.DialinSettings(call_id="call-uuid", call_domain="dom", From="+15550001111",
                                             To="+15550002222"),
        daily_api_key="KEY-never-read", daily_api_url="https://api.daily.co/v1")
    args = types.DailyRunnerArguments(room_url="https://x.daily.co/room", body=request.model_dump())
    out = from_runner(args)
    assert out == {"provider": "daily", "direction": "inbound", "call_id": "call-uuid",
                   "from_number": "+15550001111", "to_number": "+15550002222"}
    assert "KEY-never-read" not in json.dumps(out)
    args = types.DailyRunnerArguments(room_url="https://x.daily.co/room",
                                      body={"dialout_settings": [{"phone_number": "+15550004444"}]})
    assert telephony_context(runner_args=args).to_wire() == {
        "provider": "daily", "direction": "outbound", "toNumber": "+15550004444"}


def test_not_a_phone_call():
    assert from_runner(None) == {}
    assert from_runner(transport_type="websocket", call_data={}) == {}
    assert telephony_context(runner_args=object()) is None


def test_phone_numbers_are_redacted_on_call_started():
    transport = ServerTransport(params=ServerParams(serializer=twilio()), host="127.0.0.1", port=0)
    tel = telephony_context([transport.input()], transport_type="twilio",
                            call_data={"stream_id": "MZ000stream", "call_id": "CA000call",
                                       "body": {"from_number": "+15550001111", "to_number": "sip:15550002222@x"}})
    wire = CallStarted(pipecat_call_id="c", event_timestamp="t", agent_id="a", telephony=tel).to_wire()
    Redactor(True).payload(wire)
    assert wire["telephony"]["fromNumber"] == "[PHONE]"
    assert wire["telephony"]["toNumber"] == "[PHONE]"  # not the shape the text rule knows, still a number
    assert wire["telephony"]["callId"] == "CA000call"
    # With only a custom rule, the user's rules decide.
    wire = CallStarted(pipecat_call_id="c", event_timestamp="t", agent_id="a", telephony=tel).to_wire()
    Redactor([r"\+1555"]).payload(wire)
    assert wire["telephony"]["fromNumber"] == "[REDACTED]0001111"
