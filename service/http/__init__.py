"""The HTTP side: app assembly, the route table, middleware (security headers, a redacting
access log, the last-resort error handler), health and Prometheus. May import everything below.
"""
