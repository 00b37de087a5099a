"""One place that knows which Pipecat names exist on the installed version.

Pipecat 1.3 renamed PipelineTask/PipelineRunner/EndTaskFrame to
PipelineWorker/WorkerRunner/EndWorkerFrame; the old names warn in 1.x and are
gone in 2.0. Everything in this package that needs one of them imports it
from here, so supporting a new Pipecat version means editing one file.
"""

from __future__ import annotations

try:  # pipecat >= 1.3
    from pipecat.pipeline.worker import PipelineParams, PipelineWorker
    from pipecat.workers.runner import WorkerRunner
    from pipecat.frames.frames import EndWorkerFrame

    PIPECAT_1X = True
except ImportError:  # 0.0.10x
    from pipecat.pipeline.task import PipelineParams  # type: ignore[no-redef]
    from pipecat.pipeline.task import PipelineTask as PipelineWorker  # type: ignore[no-redef]
    from pipecat.pipeline.runner import PipelineRunner as WorkerRunner  # type: ignore[no-redef]
    from pipecat.frames.frames import EndTaskFrame as EndWorkerFrame  # type: ignore[no-redef]

    PIPECAT_1X = False

__all__ = ["PIPECAT_1X", "EndWorkerFrame", "PipelineParams", "PipelineWorker", "WorkerRunner"]


def start_field(frame: object, name: str) -> object:
    """A StartFrame setting without the deprecation warning Pipecat >= 1.8 gives on reading it.

    The dataclass value is still the pipeline's setting; 1.x moved the
    supported way to read it to ``FrameProcessorSetup``, which observers
    never see.
    """
    try:
        return object.__getattribute__(frame, name)
    except AttributeError:
        return None
