"""Tools for the demo, tests and benchmarks: a private broker, a 110 receiver, a simulated school and cameras."""
