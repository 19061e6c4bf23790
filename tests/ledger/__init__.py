"""The safety ledger: hazards, incidents, the monthly safety report."""
