"""Running the service for real: who the client is behind a proxy, request ids and logs, metrics, health, and the
background jobs. Nothing here knows a domain; the domains report into it through small hooks."""
