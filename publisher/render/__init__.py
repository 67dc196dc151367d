"""``Review`` and ``Issue`` to bytes, pure: no ledger, no sockets. The template engine, the
review card shared by every renderer, feeds, digests, the issue archive, the MIME message
template with its DKIM signature and unsubscribe tokens, and the template lint."""
