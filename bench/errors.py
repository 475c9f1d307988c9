"""Errors that point at the exact place in the user's input."""

from __future__ import annotations


class InputError(ValueError):
    """Bad input: names the file, the record and the field.

    ``str(err)`` reads like ``gt.json: annotations[12].bbox: width is negative (-3.0)``.
    """

    def __init__(self, file: str | None, record: str | None, field: str | None, message: str):
        self.file = file
        self.record = record
        self.field = field
        self.message = message
        where = ""
        if record is not None:
            where = record if field is None else f"{record}.{field}"
        elif field is not None:
            where = field
        head = ": ".join(part for part in (str(file) if file else "", where) if part)
        super().__init__(f"{head}: {message}" if head else message)


class ArgumentError(ValueError):
    """A command-line argument that cannot work (named in the message); the CLI exits 2."""
