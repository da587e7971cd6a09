"""The science, pure: the draws, targets, the network and its weights, the engines, training, relations
and evaluation. Imports only `pipeline.config` and `pipeline.errors`: no MLflow, no files, no environment."""
