"""``mlflow.yml``: its schema, how it is read, what it resolves to."""
