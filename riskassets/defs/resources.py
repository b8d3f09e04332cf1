"""Typed resources: the warehouse (ClickHouse / chDB) and the landing zone (S3 / folder)."""

import dagster as dg
from clickhouse_connect.driver.client import Client
from dagster_aws.s3 import S3Resource
from pydantic import Field

from riskassets import warehouse
from riskassets.settings import Settings
from riskassets.sot.landing import LandingZone, open_landing


class WarehouseResource(dg.ConfigurableResource):
    """A clickhouse-connect client: chDB in a folder by default, a ClickHouse server by URL.

    The package's DDL is applied (idempotently) when the client is first asked for.
    """

    url: str = Field(description="chdb:FOLDER for embedded chDB, or http(s)://host:port")
    database: str = Field(default="riskassets", description="database holding every table")
    password: str = Field(default="", description="server password (use dg.EnvVar)")
    wait_seconds: float = Field(
        default=warehouse.DEFAULT_WAIT_SECONDS,
        description="chDB: how long a step waits for the folder while another process "
        "(an operator's query) holds it, before failing with a retryable error",
    )

    def get_client(self) -> Client:
        return warehouse.connect(
            self.url,
            self.database,
            self.password or None,
            wait_seconds=self.wait_seconds,
            on_wait=dg.get_dagster_logger().warning,
        )


class LandingResource(dg.ConfigurableResource):
    """The landing zone where the SOT exporter publishes batches: a folder or s3://bucket/prefix."""

    url: str = Field(description="a local folder or s3://bucket/prefix")
    s3: S3Resource = Field(description="dagster-aws S3 client settings, used for s3:// URLs")

    def get_zone(self) -> LandingZone:
        client = self.s3.get_client() if self.url.startswith("s3://") else None
        return open_landing(self.url, client)


def build_resources(settings: Settings) -> dict:
    """The resources of the environment that ``settings`` describes (embedded or production)."""
    remote = settings.warehouse_url.startswith(("http://", "https://"))
    return {
        **{
            mlflow_resource_key(n.name): mlflow_resource(settings, n.name)
            for n in settings.networks
        },
        "warehouse": WarehouseResource(
            url=settings.warehouse_url,
            database=settings.warehouse_database,
            # Secrets only through EnvVar, and only where a server needs one.
            password=dg.EnvVar("RISKASSETS_WAREHOUSE_PASSWORD") if remote else "",
            wait_seconds=settings.warehouse_wait_seconds,
        ),
        "landing": LandingResource(url=settings.landing_url, s3=S3Resource()),
        "model_registry": ModelRegistryResource(tracking_uri=settings.mlflow_tracking_uri),
    }


@dg.resource(
    config_schema={
        "experiment_name": str,
        "mlflow_tracking_uri": str,
        "artifact_location": dg.Field(str, is_required=False),
    },
    description="dagster-mlflow's tracking resource, with the experiment's artifacts kept "
    "where the settings say (under the runtime home in the embedded mode).",
)
def network_mlflow(context: dg.InitResourceContext):
    """One MLflow run per Dagster run (dagster-mlflow), in the network's experiment; each
    model asset logs a nested run under it. The parent run is ended with the Dagster run."""
    import mlflow  # seconds to import: only when a run needs it
    from dagster_mlflow import mlflow_tracking

    config = context.resource_config
    mlflow.set_tracking_uri(config["mlflow_tracking_uri"])
    if config.get("artifact_location") and not mlflow.get_experiment_by_name(
        config["experiment_name"]
    ):
        # Otherwise MLflow puts artifacts in ./mlruns of whatever the working directory is.
        mlflow.create_experiment(config["experiment_name"], config["artifact_location"])
    yield from mlflow_tracking.resource_fn(context)
    mlflow.end_run()


def mlflow_resource_key(network: str) -> str:
    return f"mlflow_{network}"


def mlflow_resource(settings: Settings, network: str) -> dg.ResourceDefinition:
    config = {
        "experiment_name": f"riskassets.{network}",
        "mlflow_tracking_uri": settings.mlflow_tracking_uri,
    }
    if settings.mlflow_tracking_uri.startswith("sqlite:"):
        config["artifact_location"] = (settings.home / "mlflow" / "artifacts").as_uri()
    return network_mlflow.configured(config)


class ModelRegistryResource(dg.ConfigurableResource):
    """Read access to the MLflow model registry (scoring loads promoted models from it)."""

    tracking_uri: str = Field(description="the MLflow tracking (and registry) URI")

    def activate(self) -> None:
        import mlflow  # seconds to import: only when a run needs it

        mlflow.set_tracking_uri(self.tracking_uri)
