"""kedro-mlflow: version every dataset a Kedro pipeline saves as an MLflow artifact."""

__version__ = "3.0.0"
