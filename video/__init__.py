"""Camera probes and picture diagnosis (video quality checks); filled in by the video work."""
