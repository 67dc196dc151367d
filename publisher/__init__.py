"""publisher: film reviews to syndication feeds and email newsletters."""

try:
    # Written by the build (setuptools-scm, pyproject.toml): the version pip installed.
    from ._version import __version__ as __version__
except ImportError:  # a source tree on sys.path that no build or install has been run in
    __version__ = "0+unknown"
