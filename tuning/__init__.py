"""Hyperparameter search spaces and search jobs (Keras Tuner). Not built yet:
see the project's open issue on hyperparameter search."""
