"""The demo lab behind `premortem demo`: a real service, real chaos experiments, a live alert.

- `service`: the demo service (`python -m premortem.demo.service`), an HTTP API over SQLite with a
  bounded connection pool and work queue, fault-injection admin endpoints, logging through
  `premortem.client.PremortemHandler`;
- `experiments/*.json`: Chaos Toolkit experiments against it, run by the real `chaos` CLI;
- `load`: the load generator; `servers`: premortem in-process and the alert webhook receiver;
- `orchestrator`: the phases (start, baseline, experiments, training, live fault).
"""
