"""Device health: the pure state model, faults under the 24-hour rule, the watchers around them.

- `model`: each device's state and the `HealthTracker` that plans changes to it.
- `updater`: the one protocol every health change follows (lock, plan, save, apply).
- `faults`: the fault rules (what opens and recovers one, the closed loop, the SLA).
- `watch`: the timer that takes silent devices offline and warns about and escalates SLA deadlines.
- `maintenance`: devices into and out of the maintenance state as planned windows run.
- `recordings_verdict` / `recordings`: how far back cameras' recordings reach, and the watcher that checks it.
- `liveness`: the hub's own proof of life, and the gaps when it was not running.
"""
