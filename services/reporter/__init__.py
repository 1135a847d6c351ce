"""Reporter: the only component that talks to Labelbox (status, metadata, export,
predictions), with a full audit log. Built under issue #5."""
