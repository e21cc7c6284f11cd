"""The data set: the TAU layout (tables, clips, splits), its checks, its identity and the synthetic set."""
