"""How premortem's forecasts are judged: one definition of each metric, used by every backtest.

The run-level metrics (right and wrong alerts, warned share, precision, lead time, mode accuracy)
live in `premortem.learn.backtest.score`; the probability metrics (Brier score, expected
calibration error, reliability table), the false-alarm rate and the percentile of a sample
(`stats.percentile`, as numpy computes it) are here.
"""

from premortem.evaluation.calibration import Forecast, calibration_report, false_alarms_per_day
from premortem.evaluation.stats import percentile

__all__ = ["Forecast", "calibration_report", "false_alarms_per_day", "percentile"]
