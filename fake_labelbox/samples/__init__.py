"""Sample exports of every model type: export-v2 rows (and the files their URLs serve)
that resemble what a Labelbox user exports."""
