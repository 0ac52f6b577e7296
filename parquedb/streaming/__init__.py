"""Streams in, rollups out: Cloudflare Workers tail events parsed into a dataset of log records
(``WorkerLogsMV``) and classified failures (``WorkerErrorsMV``)."""

from parquedb.streaming.worker_errors import WorkerErrorsMV
from parquedb.streaming.worker_logs import WorkerLogsMV

__all__ = ["WorkerErrorsMV", "WorkerLogsMV"]
