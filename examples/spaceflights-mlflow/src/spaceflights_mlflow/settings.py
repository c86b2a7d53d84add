"""Project settings. kedro-mlflow's hook registers itself through its entry point,
so nothing here mentions it. For the other settings and their defaults, see
https://docs.kedro.org/en/stable/configure/configuration_basics/#configuration"""

CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
}
