"""What is this layer doing? Summaries, activation capture and the course's arithmetic."""

from layerlab.inspect.capture import capture
from layerlab.inspect.summary import LayerRow, Summary, summary

__all__ = ["LayerRow", "Summary", "capture", "summary"]
