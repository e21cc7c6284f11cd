"""Small modules every stage shares: errors, atomic writes, the class list, the published numbers,
the parameter set, progress reporting and the repository's address."""
