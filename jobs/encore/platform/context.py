"""The run context every stage function takes: where the data is, which year, the
settings, the run id and the Spark session.

Stages are functions (``run(ctx, *, options) -> int``); the CLI parses a command's
flags into a context and calls the stage (each stage's ``main(args, cfg)``), and
``encore run`` / ``encore me`` build one context and call the stages in turn, in one
Spark session and under one run id. Nothing here reads ``sys.argv`` or the shell.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import TYPE_CHECKING

from encore.platform import storage
from encore.platform.report import Report

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


@dataclass
class RunContext:
    """One run of one or more stages over one data root."""

    data: str  # the data root: a local path or an s3a:// / hdfs:// URI
    cfg: dict  # the validated settings (encore.platform.config.load)
    year: int | None = None  # the recap year, for the stages that have one
    run_id: str = ""  # names staging folders and reports; one per run, shared by its stages
    spark_profile: str | None = None  # conf/encore.toml [spark.profiles]; None: the default
    spark: SparkSession | None = None  # given by a caller that owns one (tests, `encore me`)
    quiet: bool = False  # reports write their JSON but print nothing

    def __post_init__(self) -> None:
        if not self.run_id:
            self.run_id = storage.new_run_id()

    @classmethod
    def from_args(cls, args: argparse.Namespace, cfg: dict) -> RunContext:
        """The context a command's parsed flags describe (the shared flags of
        encore.platform.args)."""
        return cls(
            data=args.data or cfg["paths"]["data_root"],
            cfg=cfg,
            year=getattr(args, "year", None),
            run_id=getattr(args, "run_id", None) or "",
            spark_profile=getattr(args, "spark_profile", None),
        )

    def session(self, app: str) -> SparkSession:
        """The Spark session: the one given, or one started (once) for ``app``."""
        if self.spark is None:
            from encore.platform.spark import get_session

            self.spark = get_session(self.cfg, app, self.spark_profile)
        return self.spark

    def report(self, stage: str) -> Report:
        """A stage's report (reports/<stage>-<run id>.json, progress on stderr)."""
        return Report(stage, self.data, self.run_id, quiet=self.quiet)

    def need_year(self, stage: str) -> int:
        if self.year is None:
            from encore.platform.errors import EncoreError

            raise EncoreError(f"{stage} needs a year: pass --year, e.g. --year 2025")
        return self.year
