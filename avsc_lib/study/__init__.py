"""Running the study: the inputs each step receives, the papermill runner, the notebooks and the book."""
