"""A run's dataset inputs: what data it used, shown by MLflow's UI under the run's datasets (a
job's DVC data, recorded when the dispatch creates its run)."""

import json

from .core import calling, mlflow_client


def log_dataset_inputs(run_id: str, inputs: list[dict]) -> None:
    """Log ``inputs`` on a run as MLflow dataset inputs, in one call: each
    ``{"name", "digest", "source", "profile", "context", "tags"}`` (``clusterjobs.sources.record``),
    the source an address MLflow types as it types an artifact location (``s3://``, a path).
    Logging the same inputs again adds nothing (MLflow keeps one per dataset and run)."""
    from mlflow.data.dataset_source_registry import resolve_dataset_source
    from mlflow.data.meta_dataset import MetaDataset
    from mlflow.entities import Dataset, DatasetInput, InputTag
    from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

    with calling():
        datasets = []
        for item in inputs:
            meta = MetaDataset(
                resolve_dataset_source(item["source"]), name=item["name"], digest=item["digest"]
            )
            entity = meta._to_mlflow_entity()
            dataset = Dataset(
                name=entity.name,
                digest=entity.digest,
                source_type=entity.source_type,
                source=entity.source,
                schema=entity.schema,
                profile=json.dumps(item["profile"]),
            )
            tags = [InputTag(MLFLOW_DATASET_CONTEXT, item["context"])]
            tags += [InputTag(key, value) for key, value in item["tags"].items() if value]
            datasets.append(DatasetInput(dataset, tags))
        mlflow_client().log_inputs(run_id, datasets=datasets)
