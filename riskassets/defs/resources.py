"""Typed resources: the warehouse (ClickHouse / chDB), the landing zone (S3 / folder) and MLflow."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import dagster as dg
from clickhouse_connect.driver.client import Client
from dagster_aws.s3 import S3Resource
from pydantic import Field

from riskassets import warehouse
from riskassets.settings import Settings
from riskassets.sot.landing import LandingZone, open_landing
from riskassets.training.config import experiment_name

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from riskassets.training.registry import Tracking


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


PARENT_TAG = "parent_of_dagster_run"  # on the MLflow run of a Dagster run


class MlflowResource(dg.ConfigurableResource):
    """MLflow tracking and model registry, through the ``MlflowClient`` it hands out (never
    MLflow's process-wide tracking URI). Training opens one parent run per Dagster run in
    the network's experiment (``experiment_name``), under which every model logs a nested
    run; the steps of a run find that parent run again by its ``PARENT_TAG``, in whatever
    process they run. Scoring loads promoted versions from the registry.

    Not dagster-mlflow's ``mlflow_tracking``: a legacy function resource bound to one
    experiment, configured per network, that sets the process-wide tracking URI and active
    run; this typed resource serves every network with explicit clients.
    """

    tracking_uri: str = Field(description="the MLflow tracking (and registry) URI")
    artifact_location: str = Field(
        default="",
        description="where experiments created here keep their artifacts (a folder URI); "
        "empty: the tracking server's default",
    )

    def get_client(self) -> "MlflowClient":
        from mlflow import MlflowClient  # seconds to import: only when a step needs it

        return MlflowClient(self.tracking_uri, registry_uri=self.tracking_uri)

    def experiment_id(self, client: "MlflowClient", network: str) -> str:
        name = experiment_name(network)
        experiment = client.get_experiment_by_name(name)
        if experiment is not None:
            return experiment.experiment_id
        # Otherwise MLflow puts artifacts in ./mlruns of whatever the working directory is.
        return client.create_experiment(name, self.artifact_location or None)

    @contextmanager
    def parent_run(self, network: str, dagster_run_id: str, run_name: str) -> Iterator["Tracking"]:
        """The Dagster run's MLflow run while the block runs: where its models log. Ended as
        FINISHED, or FAILED when the block raises."""
        from riskassets.training.registry import Tracking

        client = self.get_client()
        experiment = self.experiment_id(client, network)
        # Its own tag: the nested runs carry dagster_run_id too.
        found = client.search_runs(
            [experiment], filter_string=f"tags.{PARENT_TAG} = '{dagster_run_id}'", max_results=1
        )
        if found:
            run_id = found[0].info.run_id
            client.update_run(run_id, status="RUNNING")
        else:
            tags = {PARENT_TAG: dagster_run_id, "dagster_run_id": dagster_run_id}
            run_id = client.create_run(experiment, run_name=run_name, tags=tags).info.run_id
        status = "FAILED"
        try:
            yield Tracking(client, experiment, run_id)
            status = "FINISHED"
        finally:
            client.set_terminated(run_id, status)


def build_resources(settings: Settings) -> dict:
    """The resources of the environment that ``settings`` describes (embedded or production)."""
    remote = settings.warehouse_url.startswith(("http://", "https://"))
    embedded_mlflow = settings.mlflow_tracking_uri.startswith("sqlite:")
    return {
        "warehouse": WarehouseResource(
            url=settings.warehouse_url,
            database=settings.warehouse_database,
            # Secrets only through EnvVar, and only where a server needs one.
            password=dg.EnvVar("RISKASSETS_WAREHOUSE_PASSWORD") if remote else "",
            wait_seconds=settings.warehouse_wait_seconds,
        ),
        "landing": LandingResource(url=settings.landing_url, s3=S3Resource()),
        "mlflow": MlflowResource(
            tracking_uri=settings.mlflow_tracking_uri,
            # Embedded: the artifacts under the runtime home, beside the SQLite store.
            artifact_location=(settings.home / "mlflow" / "artifacts").as_uri()
            if embedded_mlflow
            else "",
        ),
    }
