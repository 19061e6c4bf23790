"""The hub's small shared parts: clocks, the worker base, periodic timers and the live feed."""
