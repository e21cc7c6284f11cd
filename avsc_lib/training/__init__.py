"""The training steps: their graph, input pipelines, run folders and the fitting loop."""
