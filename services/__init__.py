"""The three Trainbridge services. Each imports the shared ``eventlog`` package and never
another service's package."""
