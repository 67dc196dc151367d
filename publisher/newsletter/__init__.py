"""Pure decisions over data and ``now``: when an issue is due (schedule), which reviews it holds
(compose), what a server's reply means and when an issue is finished (policy)."""
