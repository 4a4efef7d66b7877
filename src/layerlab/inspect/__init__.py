"""layerlab.inspect."""
