"""The school's safety ledger (台账) beside the device monitor: hazards (隐患) through their closed loop, incidents
without a device behind them, inspections and patrols, and the monthly safety report (安全月报表) for the bureau.

- `hazards`: the pure closed loop of a hazard (which step may follow which) and its vocabulary.
- `incidents`: the vocabulary of incidents and how their report duties are judged (alerts.duties' rules).
- `inspections`: check plans' periods in site time and which checks of a period were done, due or missed.
- `store`, `inspection_store`: the ledger's tables on the hub's SQLite file, each change audited naming the person.
- `export`: the hazard register as a bureau's hazard ledger (CSV, XLSX).
- `monthly`: the monthly safety report's figures for one site-local month, and its CSV form.
- `monthly_outbox`, `monthly_post`: that report POSTed to the bureau's endpoint once a month, queued once per month and
  retried until a 2xx.
- `watch`: the timer that warns of and escalates overdue hazards and announces overdue incident reports.
"""
