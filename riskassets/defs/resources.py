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

    def get_client(self) -> Client:
        return warehouse.connect(self.url, self.database, self.password or None)


class LandingResource(dg.ConfigurableResource):
    """The landing zone where the SOT exporter publishes batches: a folder or s3://bucket/prefix."""

    url: str = Field(description="a local folder or s3://bucket/prefix")
    s3: S3Resource = Field(description="dagster-aws S3 client settings, used for s3:// URLs")

    def get_zone(self) -> LandingZone:
        client = self.s3.get_client() if self.url.startswith("s3://") else None
        return open_landing(self.url, client)


def build_resources(settings: Settings) -> dict[str, dg.ConfigurableResource]:
    """The resources of the environment that ``settings`` describes (embedded or production)."""
    remote = settings.warehouse_url.startswith(("http://", "https://"))
    return {
        "warehouse": WarehouseResource(
            url=settings.warehouse_url,
            database=settings.warehouse_database,
            # Secrets only through EnvVar, and only where a server needs one.
            password=dg.EnvVar("RISKASSETS_WAREHOUSE_PASSWORD") if remote else "",
        ),
        "landing": LandingResource(url=settings.landing_url, s3=S3Resource()),
    }
