"""Serve sample_app through gunicorn: ``python -m sample_app``.

Settings come from the environment (see ``sample_app.config.load_settings``); an invalid value
prints one line naming it and exits with status 2.
"""

import logging
import os
import sys

from gunicorn.app.base import BaseApplication

from . import create_app
from .config import ConfigError, Settings, load_settings

# Seconds a worker may spend on one request, and the grace period for in-flight requests at stop.
REQUEST_TIMEOUT_S = 30
GRACEFUL_TIMEOUT_S = 10


class Server(BaseApplication):
    """A gunicorn server for one Flask app built before the workers fork.

    Building the app in the master lets every worker share the same random secret key when
    SAMPLE_APP_SECRET_KEY is unset, so a session cookie is valid on every worker.
    """

    def __init__(self, application, settings: Settings):
        self.application = application
        self.settings = settings
        super().__init__()

    def init(self, parser, opts, args):
        """Take no settings from the command line; load_config sets them all."""

    def load_config(self):
        self.cfg.set("bind", f"{self.settings.host}:{self.settings.port}")
        self.cfg.set("workers", self.settings.workers)
        self.cfg.set("worker_class", "gthread")
        self.cfg.set("threads", 4)
        self.cfg.set("timeout", REQUEST_TIMEOUT_S)
        self.cfg.set("graceful_timeout", GRACEFUL_TIMEOUT_S)
        self.cfg.set("proc_name", "sample_app")
        # The default control socket is one shared path per user, so parallel servers would clash.
        self.cfg.set("control_socket_disable", True)

    def load(self):
        return self.application


def main() -> int:
    """Check the settings, build the app and serve it until SIGTERM or SIGINT."""
    try:
        settings = load_settings(os.environ)
    except ConfigError as error:
        print(f"sample_app: {error}", file=sys.stderr)
        return 2

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    Server(create_app(settings), settings).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
