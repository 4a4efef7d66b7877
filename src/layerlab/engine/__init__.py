"""layerlab.engine."""
