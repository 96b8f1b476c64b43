"""The runtime: premortem's parts assembled into what runs, thread by thread.

One `premortem serve` process today (docs/scaling.md):

- **request path** (the server's worker threads; `service/` calls it): `pipeline.Pipeline`
  parses nothing itself — it is handed validated records — and mines, stores and queues them;
  it refuses a batch with `errors.Busy` (HTTP 429) while analysis is too far behind;
- **analysis** (one background thread, `pipeline.Pipeline._run`): the stages after the store,
  `analysis.PredictionStage` (online predictor → predictions → alerting) and
  `analysis.AnalysisStage` (windows, detectors → anomalies), plus a tick each second;
- **scheduler** (one thread, `scheduler.Scheduler`): simulations, test commands and training
  (`jobs`, `training.Trainer`) on cron or on an interval;
- `assembly.build_runtime(settings)` builds all of it from `Settings`; the HTTP service, the CLI
  and the demo are thin shells over it. `backtesting` replays stored history for the Backtest page.

The bus for running analysis in worker processes (`premortem.bus`) is built; the worker is not
yet (issue 14).
"""
