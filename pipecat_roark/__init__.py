"""pipecat-roark: every Pipecat call, faithfully, in Roark.

    roark = RoarkObserver(agent_id="support-bot-v3")
    pipeline = Pipeline([..., transport.output(), roark.audio_processor, ...])
    worker = PipelineWorker(pipeline, observers=[roark])
"""

from .observer import RoarkObserver
from .recorder import RoarkAudioRecorder

__version__ = "0.1.0"

__all__ = ["RoarkObserver", "RoarkAudioRecorder", "__version__"]
