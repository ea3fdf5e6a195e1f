"""Test-helper servers a researcher runs outside the censored network."""
