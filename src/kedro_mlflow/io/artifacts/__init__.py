"""``MlflowArtifactDataset``: version any local Kedro dataset as an MLflow artifact.

Also the functions the Kedro hook and the ``kedro mlflow`` commands use: background uploads,
a dataset's versions (search, verify, restore) and the download cache.
"""

from kedro_mlflow.io.artifacts._cache import cache_root
from kedro_mlflow.io.artifacts._cache_limits import MAX_BYTES_ENV as CACHE_MAX_BYTES_ENV
from kedro_mlflow.io.artifacts._cache_limits import CacheEntry
from kedro_mlflow.io.artifacts._cache_limits import clear as clear_cache
from kedro_mlflow.io.artifacts._cache_limits import entries as cache_entries
from kedro_mlflow.io.artifacts._cache_limits import max_bytes as cache_max_bytes
from kedro_mlflow.io.artifacts._checkout import restore_version
from kedro_mlflow.io.artifacts._config import is_run_id
from kedro_mlflow.io.artifacts._queue import (
    UploadStatus,
    forward_to,
    not_logged,
    start_background_uploads,
    upload_status,
    wait_for_artifact,
    wait_for_uploads,
)
from kedro_mlflow.io.artifacts._queue import log as log_upload
from kedro_mlflow.io.artifacts._runs import (
    DISABLE_TRACKING_ENV,
    RUN_ID_ENV,
    tracking_disabled_by_env,
)
from kedro_mlflow.io.artifacts._versions import (
    DatasetVersion,
    Verification,
    all_experiment_ids,
    find_versions,
    logged_file_count,
    recorded_dataset_name,
    recorded_dataset_names,
    verify,
    version_of,
)
from kedro_mlflow.io.artifacts.mlflow_artifact_dataset import MlflowArtifactDataset

__all__ = [
    "CACHE_MAX_BYTES_ENV",
    "DISABLE_TRACKING_ENV",
    "RUN_ID_ENV",
    "CacheEntry",
    "DatasetVersion",
    "MlflowArtifactDataset",
    "UploadStatus",
    "Verification",
    "all_experiment_ids",
    "cache_entries",
    "cache_max_bytes",
    "cache_root",
    "clear_cache",
    "find_versions",
    "forward_to",
    "is_run_id",
    "log_upload",
    "logged_file_count",
    "not_logged",
    "recorded_dataset_name",
    "recorded_dataset_names",
    "restore_version",
    "start_background_uploads",
    "tracking_disabled_by_env",
    "upload_status",
    "verify",
    "version_of",
    "wait_for_artifact",
    "wait_for_uploads",
]
