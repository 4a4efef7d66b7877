"""layerlab.labs."""
