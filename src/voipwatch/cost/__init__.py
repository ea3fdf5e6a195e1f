"""The economic cost of a block: transparent models and the indicator tables they read,
every figure with its source and year."""
