"""``publisher serve``: the readers' endpoints (subscribe, confirm, unsubscribe, preferences), a
Starlette application beside the CLI — another thin edge over the same library."""
