"""How premortem's forecasts are judged: one definition of each metric, used by every backtest.

`scoring.score` is the one scorer: every backtest (OpenStack, suite, stored history replayed or
live, the Backtest page and `GET /api/v1/backtest`) turns what it knows into windows with alerts
and scores them there (right and wrong alerts, warned share, recall, precision, lead time, mode
accuracy, false alarms per day). The probability metrics (Brier score, expected calibration
error, reliability table), the false-alarm rate and the percentile of a sample
(`stats.percentile`, as numpy computes it) are here too.
"""

from premortem.evaluation.calibration import Forecast, calibration_report, false_alarms_per_day
from premortem.evaluation.stats import percentile

__all__ = ["Forecast", "calibration_report", "false_alarms_per_day", "percentile"]
