"""Serve the vulnerable twin through gunicorn (see the package docstring for the settings)."""

import os

from gunicorn.app.base import BaseApplication

from .app import create_app


class TwinServer(BaseApplication):
    """A gunicorn application that serves one prebuilt Flask app."""

    def __init__(self, application, bind):
        self.application = application
        self.bind = bind
        super().__init__()

    def load_config(self):
        self.cfg.set("bind", self.bind)
        self.cfg.set("workers", 1)
        self.cfg.set("threads", 4)
        # A shared control socket path would clash between parallel test servers.
        self.cfg.set("control_socket_disable", True)

    def load(self):
        return self.application


def main():
    """Create the twin's database and serve it until SIGTERM."""
    host = os.environ.get("SAMPLE_APP_HOST", "127.0.0.1")
    port = os.environ.get("PORT", "8000")
    TwinServer(create_app(), f"{host}:{port}").run()


if __name__ == "__main__":
    main()
