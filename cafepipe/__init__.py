"""cafepipe: a café website's clickstream-analytics pipeline on AWS, in one command."""

__version__ = "0.1.0"
