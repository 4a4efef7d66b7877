"""layerlab.viz."""
