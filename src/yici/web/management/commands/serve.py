"""`yici serve`: the production web server (gunicorn) plus the background worker, in one command."""

import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from yici.common.commands import validate_port


class Command(BaseCommand):
    help = "Serve Yici with gunicorn and run the background task worker until interrupted (Ctrl-C)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
        parser.add_argument("--port", default="8000", help="port to listen on (default 8000)")
        parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes (default 2)")
        parser.add_argument("--no-worker", action="store_true", help="do not start the background task worker")
        parser.add_argument("--no-simulators", action="store_true",
                            help="do not start the demo county's simulated line systems")

    def handle(self, *args, **options):
        port = validate_port(options["port"])
        if options["workers"] < 1:
            raise CommandError("--workers must be at least 1")
        bin_dir = Path(sys.executable).parent
        gunicorn = shutil.which("gunicorn", path=str(bin_dir)) or shutil.which("gunicorn")
        yici = shutil.which("yici", path=str(bin_dir)) or shutil.which("yici")
        if not gunicorn or not yici:
            raise CommandError("gunicorn or yici is not installed in this environment; run `make demo`")
        if not settings.DEBUG and not (Path(settings.STATIC_ROOT) / "staticfiles.json").exists():
            raise CommandError("static files are not collected; run `yici collectstatic --noinput` first")

        children: list[subprocess.Popen] = []
        simulators = [] if options["no_simulators"] else self._simulators(yici)
        for command in simulators:
            children.append(subprocess.Popen(command))
        # The worker delivers at once: started before the simulated systems listen, it met refused
        # connections and paused them for half a minute (the demo's first edits went nowhere).
        ports = [int(command[command.index("--port") + 1]) for command in simulators]
        for port_ in wait_until_listening(ports, timeout=SIMULATOR_START_SECONDS):
            self.stderr.write(f"simulated line system on port {port_} is not listening yet; the worker will retry it")
        if not options["no_worker"]:
            children.append(subprocess.Popen([yici, "worker"]))
        children.append(
            subprocess.Popen([
                gunicorn, "yici.wsgi:application", "--bind", f"{options['host']}:{port}",
                "--workers", str(options["workers"]), "--access-logfile", "-", "--graceful-timeout", "5",
            ])
        )
        self._print_banner(options["host"], port)

        def stop(*_):
            for child in children:
                if child.poll() is None:
                    child.terminate()

        signal.signal(signal.SIGTERM, stop)
        try:
            while all(child.poll() is None for child in children):
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            stop()
            for child in children:
                try:
                    child.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    child.kill()
        failed = [c for c in children if c.returncode not in (0, -signal.SIGTERM, None)]
        if failed and not any(c.returncode == -signal.SIGINT for c in children):
            raise CommandError(f"a server process exited with status {failed[0].returncode}")

    @staticmethod
    def _simulators(yici: str) -> list[list[str]]:
        from yici.demo.services import demo_is_generated

        if not demo_is_generated():
            return []
        from yici.exchange.demo import simulator_commands

        return simulator_commands(yici)

    def _print_banner(self, host: str, port: int) -> None:
        self.stdout.write(self.style.SUCCESS(f"Yici is serving on http://{host}:{port}/  (Ctrl-C stops it)"))
        from yici.demo.services import DEMO_PASSWORD, DEMO_USERS, demo_is_generated

        if demo_is_generated():
            self.stdout.write(f"Demo logins (password {DEMO_PASSWORD}):")
            for row in DEMO_USERS:
                self.stdout.write(f"  {row['username']:<10} {row['role']:<18} {row['area']}")


SIMULATOR_START_SECONDS = 20.0


def wait_until_listening(ports: list[int], *, host: str = "127.0.0.1", timeout: float) -> list[int]:
    """Wait until something accepts connections on each of ``ports`` (at most ``timeout`` seconds
    in all); returns the ports that still do not."""
    deadline = time.monotonic() + timeout
    waiting = list(ports)
    while waiting:
        for port in list(waiting):
            try:
                socket.create_connection((host, port), timeout=0.2).close()
                waiting.remove(port)
            except OSError:
                pass
        if not waiting or time.monotonic() >= deadline:
            break
        time.sleep(0.1)
    return waiting
