"""Views of the hub for other systems (InfluxDB, Home Assistant, the escalation webhook); off by default."""
