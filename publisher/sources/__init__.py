"""Files to ``Review``: front matter and its YAML traps, the review schema, Markdown to safe
HTML, the parse cache, the catalogue and its cross-file checks, the importer, scaffolding."""

from .catalog import Catalog, SourceCheck, check_sources, load_reviews
from .schema import derived_id, parse_review, parse_runtime

__all__ = ["Catalog", "SourceCheck", "check_sources", "derived_id", "load_reviews",
           "parse_review", "parse_runtime"]
