"""The real `abby bot run` as a separate process, pointed at a `DiscordStandIn`.

    with DiscordStandIn() as discord_, BotProcess(discord_, env) as bot:
        bot.wait_ready()
        ...
        assert bot.stop() == 0          # SIGTERM, then the exit code

`env` holds the backend's variables (ABBY_DATA_DIR, ABBY_DATABASE__URI, ...); the token and
the stand-in's URLs are added here. The process's stderr is kept in `bot.log` (a file).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.support.discord_standin import DiscordStandIn

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4.stand-in.token-not-a-secret"


class BotProcess:
    def __init__(
        self, standin: DiscordStandIn, env: dict[str, str], *, args: tuple[str, ...] = ()
    ) -> None:
        self.standin = standin
        data_dir = Path(env.get("ABBY_DATA_DIR") or ".")
        data_dir.mkdir(parents=True, exist_ok=True)
        self.log = data_dir / "bot-stderr.log"
        base = {k: v for k, v in os.environ.items() if not k.startswith("ABBY_")}
        self.env = {
            **base,
            "PYTHONPATH": str(ROOT),
            "ABBY_DISCORD__TOKEN": TOKEN,
            "ABBY_DISCORD__API_BASE_URL": standin.base_url,
            "ABBY_DISCORD__GATEWAY_URL": standin.gateway_url,
            **env,
        }
        self.args = args
        self.process: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0

    def __enter__(self) -> BotProcess:
        self.started_at = time.monotonic()
        self._stderr = self.log.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "abby_cli.main", "bot", "run", *self.args],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
        )
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self._stderr.close()

    def wait_ready(self, timeout: float = 90.0) -> float:
        """Wait until the bot identified on the gateway (cogs loaded, commands synced);
        returns the seconds since the process started."""
        deadline = time.monotonic() + timeout
        while not self.standin.identified:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(
                    f"the bot exited with {self.process.returncode}:\n{self.stderr()}"
                )
            if time.monotonic() > deadline:
                raise TimeoutError(f"the bot did not identify within {timeout} s:\n{self.stderr()}")
            time.sleep(0.02)
        return time.monotonic() - self.started_at

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        """Send `sig` and return the exit code."""
        assert self.process is not None
        self.process.send_signal(sig)
        return self.process.wait(timeout)

    def stderr(self) -> str:
        self._stderr.flush()
        return self.log.read_text(errors="replace")
