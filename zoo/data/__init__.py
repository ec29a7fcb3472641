"""From a clip table to cached, normalised log-mel tensors: decode, features, splits, cache."""
