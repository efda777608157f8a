"""Operations: readiness of the servers the portal depends on, Prometheus metrics, structured logs."""
