"""The real `kedro new` project fixtures of tests/framework, for PipelineML runs."""

from tests.framework.conftest import (  # noqa: F401
    _restore_process_state,
    project,
    project_template,
)
