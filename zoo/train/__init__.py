"""Training under the one protocol: the trainer, its augmentations, the stopping rule, tuning."""
