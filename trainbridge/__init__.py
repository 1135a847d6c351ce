"""Trainbridge: the command line that starts each service (``trainbridge --help``)."""
