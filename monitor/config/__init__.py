"""Load and validate configuration: YAML files in the config directory plus NEWSMON_* environment.

Errors are one line naming file and key: ``config/feeds.yaml: feeds[2].url: not an http(s) URL``.
Secrets (passwords, API keys) come only from the environment, never from YAML.

- `files`: reading YAML, the one-line errors (`ConfigError`), durations, topic labels;
- `models`: the schemas of feeds.yaml and subscribers.yaml;
- `settings`: `Settings` and the environment (`load_settings`, `settings_from_env`);
- `check`: `newsmon config check`, every problem at once.
"""

from monitor.config.check import ConfigCheck, address_problem, check_config, url_problem
from monitor.config.files import ConfigError, parse_duration, topic_labels
from monitor.config.models import AlertRule, FeedConfig, FeedsFile, Subscriber, SubscribersFile
from monitor.config.settings import (
    ElasticsearchSettings,
    Settings,
    SmtpSettings,
    load_settings,
    settings_from_env,
)

__all__ = [
    "AlertRule",
    "ConfigCheck",
    "ConfigError",
    "ElasticsearchSettings",
    "FeedConfig",
    "FeedsFile",
    "Settings",
    "SmtpSettings",
    "Subscriber",
    "SubscribersFile",
    "address_problem",
    "check_config",
    "load_settings",
    "parse_duration",
    "settings_from_env",
    "topic_labels",
    "url_problem",
]
