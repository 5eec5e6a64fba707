"""The quota pages in words people read: labels instead of field names, one number format in
each language, and the overview plot as a share of each budget with its data as a table."""

from decimal import Decimal

import pytest

from portal.quotas.actions import request_quota, update_quota

from .conftest import set_quota


@pytest.mark.django_db
def test_requests_and_history_show_labels_not_field_names(personas):
    request_quota(personas.alice, personas.project, "thesis", max_gpus=4)
    update_quota(personas.root, personas.project, "grant", max_cpu=Decimal("12.5"))
    page = personas.client("alice").get("/projects/genomics/quota/").content.decode()
    requests = page[page.index('<section id="requests">') : page.index('<details id="ask"')]
    history = page[page.index('<section id="history">') : page.index('<section id="caps">')]
    html = requests + history
    assert "max_gpus" not in html and "max_cpu" not in html
    assert "Maximum concurrent GPUs: <strong>4</strong>" in html
    assert "Maximum concurrent CPU cores:" in html and "<strong>12.5</strong>" in html


@pytest.mark.django_db
def test_spanish_numbers_have_a_decimal_comma_and_no_trailing_zeros(personas):
    set_quota(personas.project, max_cpu=Decimal("8.000"), max_memory_mib=16384)
    update_quota(personas.root, personas.project, "más", max_cpu=Decimal("12.5"))
    client = personas.client("root")
    spanish = client.get("/quotas/", HTTP_ACCEPT_LANGUAGE="es").content.decode()
    row = spanish[spanish.index('id="overview-genomics"') :]
    row = row[: row.index("</tr>")]
    assert "8.000" not in row and "8,000" not in row and "/ 12,5<" in row
    page = client.get("/projects/genomics/quota/", HTTP_ACCEPT_LANGUAGE="es").content.decode()
    history = page[page.index('<section id="history">') : page.index('<section id="caps">')]
    assert "8 → <strong>12,5</strong>" in history and "12.5" not in history


@pytest.mark.django_db
def test_the_overview_plot_is_a_share_of_each_budget_with_a_data_table(personas):
    set_quota(personas.project, gpu_hours_per_period=Decimal(0))
    response = personas.client("root").get("/quotas/")
    chart = response.context["chart"]
    assert set(chart) == {"labels", "gpu_share", "cpu_share"}
    index = chart["labels"].index("genomics")
    assert chart["gpu_share"][index] is None  # no budget: no share
    assert chart["cpu_share"][index] == 0.0
    html = response.content.decode()
    assert 'id="overview-data"' in html and "<caption>" in html
