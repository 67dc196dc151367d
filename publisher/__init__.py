"""publisher: film reviews to syndication feeds and email newsletters."""

__version__ = "0.1.0"
