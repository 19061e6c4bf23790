"""Alarms: the rules that raise them, the outbox that keeps them, and the forwarders that carry them to 110."""
