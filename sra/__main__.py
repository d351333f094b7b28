"""``python -m sra``: read one SRA command on stdin, write the Response to its OutputFile."""

from __future__ import annotations

import sys
import warnings


def main() -> int:
    """Exit 0 whenever a Response was written; otherwise one line on stderr and exit 2 or 3."""
    warnings.simplefilter("ignore")  # SRM shows stderr as an error; the log says what matters
    try:
        from sra.dispatch import respond

        outcome = respond(sys.stdin.buffer.read())
    except BaseException as exc:  # last line of defence: never a traceback on stderr
        sys.stderr.write(f"sra: internal error: {type(exc).__name__}\n")
        return 4
    if not outcome.output_file:
        sys.stderr.write(outcome.stderr.replace("\n", " ") + "\n")
        return outcome.exit_code or 2
    try:
        with open(outcome.output_file, "wb") as fh:
            fh.write(outcome.body)
    except OSError as exc:
        sys.stderr.write(f"sra: cannot write OutputFile {outcome.output_file}: {exc.strerror}\n")
        return 3
    return outcome.exit_code


if __name__ == "__main__":
    sys.exit(main())
