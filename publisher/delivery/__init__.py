"""Getting messages to a server: transports (SMTP, Maildir, files), the sender threads, and the
engine that claims each delivery before its message goes and records it after."""
