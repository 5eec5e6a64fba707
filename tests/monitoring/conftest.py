import pytest
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families


@pytest.fixture
def scrape(settings):
    """GET /metrics as an allowed scraper; answers {(sample name, labels as a sorted tuple): value}."""
    settings.TALLER_METRICS_ALLOWED_ADDRESSES = ["127.0.0.1"]
    settings.TALLER_METRICS_TOKEN = ""

    def scrape() -> dict:
        response = Client().get("/metrics", REMOTE_ADDR="127.0.0.1")
        assert response.status_code == 200, response.content[:500]
        return samples(response.content.decode())

    return scrape


def samples(text: str) -> dict:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
