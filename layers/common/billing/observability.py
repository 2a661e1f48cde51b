"""The one logger every function writes through, and metrics, published as CloudWatch
embedded-metric-format lines through Powertools, both under the service name of the environment
(POWERTOOLS_SERVICE_NAME, set for every function by the template).

Each metric is its own EMF line (`single_metric`), so that it carries only its own dimensions
and concurrent batches in one process never share a buffer.
"""

from __future__ import annotations

from functools import cache

from aws_lambda_powertools import Logger
from aws_lambda_powertools.metrics import MetricUnit, single_metric

from billing.settings import MetricsSettings


@cache
def _settings() -> MetricsSettings:
    return MetricsSettings.from_environment()


logger = Logger(service=_settings().service)


def publish(
    name: str, value: float, unit: MetricUnit = MetricUnit.Count, **dimensions: str
) -> None:
    settings = _settings()
    with single_metric(
        name=name,
        unit=unit,
        value=value,
        namespace=settings.namespace,
        default_dimensions={"service": settings.service},
    ) as metric:
        for dimension, dimension_value in dimensions.items():
            metric.add_dimension(dimension, dimension_value)
