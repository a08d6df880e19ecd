"""smarts3: a strict, streaming S3-compatible object store on a local directory."""

__version__ = "0.1.0"
