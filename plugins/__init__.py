"""audio-zoo's first-party plugins, installed as the package `zoo_plugins` and found through the
`audio_zoo` entry-point group exactly like third-party plugins."""
