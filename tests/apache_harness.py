"""The rendered café site in a real Apache (Debian apache2 + mod_php), for the tests.

Not a test module: tests/test_apache_config.py and tests/test_access_log_json.py import it
(`from apache_harness import …`; pytest puts tests/ on sys.path, as for conftest.py).
Apache runs unprivileged in the foreground on a free loopback port with its own ServerRoot,
serves the rendered site and writes the JSON access log through its piped logger.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest

from cafepipe.cafe import catalog
from cafepipe.config import StackConfig
from cafepipe.deploy.render import apache_config, site_files
from cafepipe.logs import access_logger

APACHE_BIN = shutil.which("apache2") or "/usr/sbin/apache2"
MODULES_DIR = Path("/usr/lib/apache2/modules")
PHP_MODULES = sorted(MODULES_DIR.glob("libphp*.so"))
MODULES = {
    "mpm_prefork_module": "mod_mpm_prefork.so",
    "authz_core_module": "mod_authz_core.so",
    "alias_module": "mod_alias.so",
    "dir_module": "mod_dir.so",
    "mime_module": "mod_mime.so",
    "setenvif_module": "mod_setenvif.so",
}
SYSTEM_MIME_TYPES = "/etc/mime.types" if Path("/etc/mime.types").is_file() else None

# Marks for a test that runs the real Apache: integration, skipped where it is not installed.
NEEDS_APACHE = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not Path(APACHE_BIN).is_file()
        or not all((MODULES_DIR / name).is_file() for name in MODULES.values()),
        reason="Debian apache2 is not installed (apt-get install apache2; `make system-deps`)",
    ),
    pytest.mark.skipif(
        not PHP_MODULES,
        reason="mod_php is not installed (apt-get install libapache2-mod-php)",
    ),
]


@dataclass
class Apache:
    """A running Apache: its port, ServerRoot, logs and process (the `apache2` parent)."""

    port: int
    root: Path
    access_log: Path
    combined_log: Path
    process: subprocess.Popen[bytes]


ApacheT = TypeVar("ApacheT", bound=Apache)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_site(document_root: Path) -> Path:
    """The rendered site under `document_root`; returns its directory (`…/cafe`)."""
    site_dir = document_root / "cafe"
    for url_path, data in site_files(StackConfig()).items():
        target = (
            site_dir / "index.php"
            if url_path == catalog.HOME_PATH
            else document_root / url_path[1:]
        )
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return site_dir


def httpd_conf(
    root: Path,
    port: int,
    document_root: Path,
    servers: tuple[int, int, int],
    types_config: str | None,
) -> str:
    """The main config: modules, mod_php, the document root, then `Include cafe.conf`."""
    modules = "\n".join(f"LoadModule {name} {MODULES_DIR / file}" for name, file in MODULES.items())
    start, min_spare, max_spare = servers
    mime_types = f"TypesConfig {types_config}" if types_config else ""
    return f"""\
ServerRoot "{root}"
ServerName 127.0.0.1
Listen 127.0.0.1:{port}
PidFile "{root}/run/httpd.pid"
DefaultRuntimeDir "{root}/run"
ErrorLog "{root}/logs/error_log"
LogLevel warn
{modules}
LoadModule php_module {PHP_MODULES[-1]}
StartServers {start}
MinSpareServers {min_spare}
MaxSpareServers {max_spare}
{mime_types}
DocumentRoot "{document_root}"
<Directory "{document_root}">
    Require all granted
</Directory>
<FilesMatch "\\.php$">
    SetHandler application/x-httpd-php
</FilesMatch>
LogFormat "%h %l %u %t \\"%r\\" %>s %b \\"%{{Referer}}i\\" \\"%{{User-Agent}}i\\"" combined
Include "{root}/cafe.conf"
"""


def wait_for_port(port: int, process: subprocess.Popen[bytes], error_log: Path) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log = error_log.read_text() if error_log.is_file() else ""
            raise AssertionError(f"apache2 exited with {process.returncode}: {log}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError("apache2 did not start listening within 15 s")


@contextlib.contextmanager
def serve(
    kind: type[ApacheT],
    *,
    behind_cloudfront: bool,
    logger_python: str = sys.executable,
    servers: tuple[int, int, int] = (1, 1, 2),
    types_config: str | None = SYSTEM_MIME_TYPES,
) -> Iterator[ApacheT]:
    """Apache serving the rendered site until the block ends; then stopped and removed.

    `behind_cloudfront` renders cafe.conf for site_access = "cloudfront" (the visitor from
    X-Forwarded-For) or "public-ip"; `logger_python` runs the piped access logger; `servers`
    is (StartServers, MinSpareServers, MaxSpareServers); `types_config` is TypesConfig's file.
    The access log's folder (`logs/access`) holds only the access log and its rotations.
    """
    # Not tmp_path: when run as root, Apache's children drop to an unprivileged user, who
    # must be able to traverse to the site (pytest's base temp dir is private).
    root = Path(tempfile.mkdtemp(prefix="cafepipe-apache-"))
    try:
        root.chmod(0o755)
        for sub in ("run", "logs/access"):
            (root / sub).mkdir(parents=True)
        document_root = root / "htdocs"
        site_dir = write_site(document_root)
        access_log = root / "logs" / "access" / "access_log"
        combined_log = root / "logs" / "combined_log"
        (root / "cafe.conf").write_text(
            apache_config(
                access_log_path=str(access_log),
                site_dir=str(site_dir),
                combined_log_path=str(combined_log),
                behind_cloudfront=behind_cloudfront,
                access_logger=f"{logger_python} -I -S {access_logger.__file__}",
            )
        )
        port = free_port()
        conf = root / "httpd.conf"
        conf.write_text(httpd_conf(root, port, document_root, servers, types_config))
        # Apache's %t is local time; the instance runs in UTC (the "Z" in the JSON time).
        env = {**os.environ, "TZ": "UTC"}
        process = subprocess.Popen(
            [APACHE_BIN, "-f", str(conf), "-DFOREGROUND"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            # Apache signals its whole process group on shutdown: keep pytest out of it.
            start_new_session=True,
        )
        try:
            wait_for_port(port, process, root / "logs" / "error_log")
            yield kind(port, root, access_log, combined_log, process)
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    finally:
        shutil.rmtree(root, ignore_errors=True)
