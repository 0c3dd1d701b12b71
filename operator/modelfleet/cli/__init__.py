"""The ``modelfleet`` command."""
