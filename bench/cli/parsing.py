"""The command line's conventions, apart from the commands themselves.

- :class:`Parser`: ``allow_abbrev=False`` (``--result`` is not silently ``--results``), and an
  unknown option is reported for the command it was given to, with the closest known option
  (``python -m bench run: unknown option --detecter; did you mean --detector?``), before argparse
  would report a required option as missing.
- :func:`json_or_text`: ``--json`` puts one JSON document on stdout; the human text goes to stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import sys
from collections.abc import Iterator


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` without prefix abbreviations; subparsers are of this class too."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def parse_known_args(self, args=None, namespace=None):
        argv = list(sys.argv[1:] if args is None else args)
        self.check_options(argv)
        return super().parse_known_args(argv, namespace)

    def check_options(self, argv: list[str]) -> None:
        """Exit 2 naming this command, the unknown ``--option`` and the closest known one. Only
        long options are checked here; the rest (values, subcommands) is argparse's. A subcommand
        checks its own options when argparse hands it its part of ``argv``."""
        known = self._option_string_actions
        subcommands = next((a.choices for a in self._actions if isinstance(a, argparse._SubParsersAction)), None)
        for token in argv:
            if token == "--":
                return
            if subcommands is not None and token in subcommands:
                return  # the rest belongs to the subcommand
            if not token.startswith("--"):
                continue
            name = token.split("=", 1)[0]
            if name in known:
                continue
            close = difflib.get_close_matches(name, [o for o in known if o.startswith("--")], n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]}?" if close else f" (see {self.prog} --help)"
            self.print_usage(sys.stderr)
            self.exit(2, f"{self.prog}: unknown option {name}{hint}\n")


def examples(*lines: str) -> str:
    """A ``--help`` epilog: each line one example command, as typed."""
    return "examples:\n" + "\n".join(f"  {line}" for line in lines)


@contextlib.contextmanager
def json_or_text(as_json: bool) -> Iterator[None]:
    """With ``--json``, what the block prints for people goes to stderr (stdout carries the JSON)."""
    if not as_json:
        yield
        return
    with contextlib.redirect_stdout(sys.stderr):
        yield


def write_out(path: str | None, doc) -> None:
    """``--out``: ``doc`` written to ``path`` as JSON (atomically) and a line saying so; nothing without a path."""
    if path:
        from bench.jsonio import dump_json

        dump_json(path, doc)
        print(f"wrote {path}")


def print_json(obj) -> None:
    """One JSON document on stdout (numpy values as numbers; undefined values as null)."""
    from bench.jsonio import dumps

    sys.stdout.write(dumps(obj, indent=True).decode() + "\n")
    sys.stdout.flush()
