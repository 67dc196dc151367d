"""The jobs the CLI (and cron) call: build, run, send, check, preview and screenshots, the run
lock, the crontab and systemd text."""
