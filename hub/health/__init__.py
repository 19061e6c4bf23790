"""Device health: the pure state model, faults under the 24-hour rule, the watchers around them."""
