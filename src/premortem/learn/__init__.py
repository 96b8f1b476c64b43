"""The correlation engine: failure modes, precursors, a Bayesian network and an online predictor.

Entry points:
- `train(test_runs, logs, events, simulations, *, manual_modes, feedback) -> TrainedModel`
- `OnlinePredictor(model, clock, horizon_s).observe(records) -> list[Prediction]`
- `merge_modes(existing, learned) -> list[FailureMode]`
- `TrainedModel.dumps() -> bytes` / `TrainedModel.loads(data)`
"""

from premortem.learn.merge import merge_modes
from premortem.learn.model import TrainedModel, train
from premortem.learn.predictor import OnlinePredictor

__all__ = ["OnlinePredictor", "TrainedModel", "merge_modes", "train"]
