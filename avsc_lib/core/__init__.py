"""What every stage shares: errors, atomic writes, the classes, the published numbers, the parameters."""
