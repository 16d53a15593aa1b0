"""Run every background service of Prefect's server once against a fresh database, in this process.

`python -m tests.flows.server_services HOME` prints a JSON report: the services that ran, the flow runs the
scheduler inserted for an interval-scheduled deployment, and every ERROR the services logged. It runs in a
subprocess of the test (tests/flows/test_server_services.py) so that its Prefect settings (a database of
its own under HOME) cannot leak into the rest of the suite.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from datetime import timedelta
from pathlib import Path


class _Errors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[str] = []
        self._seen: set[int] = set()

    def emit(self, record: logging.LogRecord) -> None:
        if id(record) in self._seen:  # attached to several loggers: a propagated record comes again
            return
        self._seen.add(id(record))
        cause = f" ({type(record.exc_info[1]).__name__}: {record.exc_info[1]})" if record.exc_info else ""
        self.records.append(f"{record.name}: {record.getMessage()}{cause}")


async def _run(seconds: float) -> dict:
    from docket import Docket
    from prefect.server import models, schemas
    from prefect.server.api.background_workers import background_worker
    from prefect.server.database import provide_database_interface
    from prefect.server.services.base import Service
    from prefect.server.services.perpetual_services import get_enabled_perpetual_services

    db = provide_database_interface()
    await db.create_db()
    async with db.session_context(begin_transaction=True) as session:
        flow = await models.flows.create_flow(session=session, flow=schemas.core.Flow(name="smoke"))
        schedule = schemas.schedules.IntervalSchedule(interval=timedelta(seconds=20))
        deployment = await models.deployments.create_deployment(
            session=session,
            deployment=schemas.core.Deployment(
                name="every-20s",
                flow_id=flow.id,
                schedules=[schemas.core.DeploymentSchedule(schedule=schedule, active=True)],
            ),
        )
    # what `prefect server start` runs beside the API: docket's perpetual services and the Service loops
    async with Docket(name="smoke", url="memory://", execution_ttl=timedelta(0)) as docket:
        async with background_worker(docket, ephemeral=False, webserver_only=False), Service.running():
            await asyncio.sleep(seconds)
    async with db.session_context() as session:
        runs = await models.flow_runs.read_flow_runs(session=session)
    return {
        "perpetual_services": [c.function.__name__ for c in get_enabled_perpetual_services()],
        "services": [s.__name__ for s in Service.enabled_services()],
        "scheduled_runs": sum(1 for r in runs if r.deployment_id == deployment.id and r.auto_scheduled),
    }


def main(home: str, seconds: float = 8.0) -> None:
    os.environ["PREFECT_HOME"] = home
    os.environ["PREFECT_API_DATABASE_CONNECTION_URL"] = f"sqlite+aiosqlite:///{Path(home) / 'prefect.db'}"
    os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    os.environ.pop("PREFECT_API_URL", None)
    errors = _Errors()
    logging.getLogger().addHandler(errors)
    for name in ("prefect", "docket", "sqlalchemy", "uvicorn"):
        logging.getLogger(name).addHandler(errors)
    report = asyncio.run(_run(seconds))
    report["errors"] = errors.records
    print(json.dumps(report))


if __name__ == "__main__":
    main(sys.argv[1], *(float(a) for a in sys.argv[2:]))
