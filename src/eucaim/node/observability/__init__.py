"""Operations: Prometheus metrics, JSON logs with a request id, and the middleware that feeds both."""
