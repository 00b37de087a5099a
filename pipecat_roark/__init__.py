"""pipecat-roark: every Pipecat call, faithfully, in Roark.

    roark = RoarkObserver(agent_id="support-bot-v3")
    pipeline = Pipeline([..., transport.output(), roark.audio_processor, ...])
    worker = PipelineWorker(pipeline, observers=[roark])
"""

__version__ = "0.3.0"

__all__ = ["RoarkObserver", "RoarkAudioRecorder", "__version__"]


def __getattr__(name: str):
    # Imported on first use, so `pipecat-roark dev` and `--help` do not load
    # Pipecat (and print its banner) before they need it.
    if name == "RoarkObserver":
        from .observer import RoarkObserver

        return RoarkObserver
    if name == "RoarkAudioRecorder":
        from .recorder import RoarkAudioRecorder

        return RoarkAudioRecorder
    raise AttributeError(f"module 'pipecat_roark' has no attribute {name!r}")
