"""Run machinery shared by the trainers (GAN training, segmenter training, fine-tuning).

It sits below the trainers and evaluation and imports none of them:

- :mod:`.batches`  resumable data order (:class:`ResumableSampler`) and endless batches with a
  known position (:class:`BatchStream`)
- :mod:`.run_log`  ``metrics.jsonl`` + TensorBoard of one run folder (:class:`RunLogger`),
  cut back to the checkpoint a run resumes from
- :mod:`.stop`  SIGTERM / SIGINT finish the step and checkpoint it (:class:`StopRequest`,
  :class:`TrainingInterrupted`)
- :mod:`.split_passes`  the GAN step's discriminator passes as two half batches on two CPU
  threads (``train.split_d``)
"""

from .batches import BatchStream, ResumableSampler
from .run_log import RunLogger
from .stop import StopRequest, TrainingInterrupted

__all__ = ["BatchStream", "ResumableSampler", "RunLogger", "StopRequest", "TrainingInterrupted"]
