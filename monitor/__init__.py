"""newsmon: scheduled news monitoring (see README.md and DESIGN.md for the map)."""

import logging

# A library logs and the application decides where it goes: Airflow task logs pick these up
# through the root logger; the CLI prints tables and turns logs on with NEWSMON_LOG_LEVEL.
# Without this handler Python's last-resort handler would print warnings on every CLI run.
logging.getLogger("monitor").addHandler(logging.NullHandler())
