"""The runs table (one experiment's runs, or a search across all the project's experiments) and
the charts of many runs. Each page makes one bounded MLflow search (one page of runs)."""

import time
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from portal.projects.access import Need, can, get_project_for_user
from portal.projects.models import Project
from portal.times import when

from . import gateway
from .templatetags.mlflow_extras import duration, mlflow_state, ms_datetime, short_number
from .views import job_of, mlflow_page

PAGE_SIZES = (25, 50, 100)
DEFAULT_COLUMNS = 6
RUN_ATTRIBUTES = [
    ("attributes.run_name", gettext_lazy("Run")),
    ("attributes.start_time", gettext_lazy("Started")),
    ("attributes.status", gettext_lazy("Status")),
    ("attributes.user_id", gettext_lazy("User")),
]
CHART_RUNS = 200  # runs on a chart: one search page


def _order_by(order: str) -> list[str]:
    return [part.strip() for part in order.split(",") if part.strip()]


def _column_key(column: str) -> str:
    kind, _dot, key = column.partition(".")
    return f"{kind}.`{key}`" if kind in {"metrics", "params", "tags"} else column


def _search(experiment_ids: list[str], filter_string: str, order: str, size: int, token: str):
    """One page of runs, or (a malformed filter or order) no runs and MLflow's message."""
    if not experiment_ids:
        return {"runs": [], "next_page_token": None}, ""
    try:
        page = gateway.search_runs(
            experiment_ids,
            filter_string=filter_string,
            order_by=_order_by(order),
            max_results=size,
            page_token=token,
        )
    except gateway.GatewayError as failure:
        if failure.status != 400:
            raise
        return {"runs": [], "next_page_token": None}, str(failure)
    return page, ""


@mlflow_page
def run_list(request: HttpRequest, slug: str, experiment_id: str) -> HttpResponse:
    """One experiment's runs: server-side pages through MLflow's page_token, filter, sort, columns."""
    project = get_project_for_user(request.user, slug)
    experiment = gateway.get_experiment(project.slug, experiment_id)
    return _runs_page(request, project, [experiment["experiment_id"]], experiment)


@mlflow_page
def project_runs(request: HttpRequest, slug: str) -> HttpResponse:
    """The runs of every experiment of the project, in one search (the experiments' ids are
    cached for a minute), with the same filter, order and columns as one experiment's table."""
    project = get_project_for_user(request.user, slug)
    return _runs_page(request, project, gateway.project_experiment_ids(project.slug), None)


def _runs_page(request: HttpRequest, project: Project, experiment_ids: list[str], experiment) -> HttpResponse:
    query = request.GET
    filter_string = query.get("filter", "").strip()
    order = query.get("order", "").strip()
    size = int(query.get("size")) if query.get("size", "").isdigit() else PAGE_SIZES[0]
    size = size if size in PAGE_SIZES else PAGE_SIZES[0]
    token = query.get("page_token", "")
    previous = query.getlist("prev")
    page, error = _search(experiment_ids, filter_string, order, size, token)

    metric_keys = sorted({k for run in page["runs"] for k in run["metrics"]})
    param_keys = sorted({k for run in page["runs"] for k in run["params"]})
    if query.get("columns") == "chosen":
        chosen = query.getlist("cols")
    else:
        chosen = [f"metrics.{k}" for k in metric_keys[:DEFAULT_COLUMNS]]
        chosen += [f"params.{k}" for k in param_keys[:DEFAULT_COLUMNS]]
    offered = sorted(
        {f"metrics.{k}" for k in metric_keys} | {f"params.{k}" for k in param_keys} | set(chosen)
    )
    columns = [
        {
            "id": column,
            "kind": column.partition(".")[0],
            "key": column.partition(".")[2],
            "order": _column_key(column),
        }
        for column in chosen
        if column.partition(".")[0] in {"metrics", "params"}
    ]
    for run in page["runs"]:
        run["cells"] = [(c["kind"], run[c["kind"]].get(c["key"], "")) for c in columns]
        run["job"] = job_of(run)
    run_url = reverse("experiments:run", args=[project.slug, "RUN"]).removesuffix("RUN/")
    rows = _run_rows(page["runs"], run_url)

    state = [("filter", filter_string), ("order", order), ("size", str(size)), ("columns", "chosen")]
    state += [("cols", c["id"]) for c in columns]
    next_query = urlencode(
        [*state, ("page_token", page["next_page_token"] or ""), *[("prev", p) for p in [*previous, token]]]
    )
    prev_query = (
        urlencode([*state, ("page_token", previous[-1]), *[("prev", p) for p in previous[:-1]]])
        if previous
        else ""
    )
    headers = []
    for key, label in [*RUN_ATTRIBUTES, *[(c["order"], c["id"]) for c in columns]]:
        direction = "ASC" if order == f"{key} DESC" else "DESC"
        arrow = "↓" if order == f"{key} DESC" else "↑" if order == f"{key} ASC" else ""
        sort_query = urlencode([(k, v) for k, v in state if k != "order"] + [("order", f"{key} {direction}")])
        headers.append({"label": label, "query": sort_query, "arrow": arrow, "key": key})
    if experiment is not None:
        runs_url = reverse("experiments:runs", args=[project.slug, experiment["experiment_id"]])
        charts_query = urlencode([("experiment", experiment["experiment_id"]), ("filter", filter_string)])
    else:
        runs_url = reverse("experiments:project-runs", args=[project.slug])
        charts_query = urlencode([("filter", filter_string)])
    context = {
        "project": project,
        "experiment": experiment,
        "runs_url": runs_url,
        "charts_query": charts_query,
        "page": page,
        "rows": rows,
        "columns": columns,
        "offered": offered,
        "chosen": {c["id"] for c in columns},
        "filter": filter_string,
        "order": order,
        "size": size,
        "sizes": PAGE_SIZES,
        "error": error,
        "page_number": len(previous) + 1,
        "next_query": next_query if page["next_page_token"] else "",
        "prev_query": prev_query if previous else "",
        "has_prev": bool(previous),
        "headers": headers,
        "can_change": can(request.user, project, Need.CHANGE),
    }
    template = (
        "experiments/runs.html#runs" if request.htmx and not request.htmx.boosted else "experiments/runs.html"
    )
    return render(request, template, context)


def _cell(kind: str, value) -> str:
    """A metric rounded, its full value on hover; a parameter as it is."""
    if kind == "metrics" and isinstance(value, float):
        return format_html('<td class="num" title="{}">{}</td>', repr(value), short_number(value))
    return format_html("<td>{}</td>", value)


def _run_rows(runs: list[dict], run_url: str) -> str:
    """The runs table's rows as HTML, escaped by format_html.

    Built here rather than in a template loop: a hundred rows of template nodes cost more
    than MLflow's own answer, and the page's overhead over MLflow has a budget (bench/).
    """
    label = _("Compare this run")
    underused = format_html(
        ' <span class="flag gpu-underused" title="{}">{}</span>',
        _("Its job held GPUs it used little: ask for fewer next time."),
        _("GPUs underused"),
    )
    now = int(time.time() * 1000)
    rows = []
    for run in runs:
        started = ms_datetime(run["start_time"])
        job = run["job"]
        end = run["end_time"] or (now if run["status"] == "RUNNING" else None)
        took = duration(end - run["start_time"]) if end and run["start_time"] else ""
        rows.append(
            format_html(
                '<tr class="run-row" data-run-id="{id}"><td class="pick"><input type="checkbox" name="runs"'
                ' value="{id}" form="compare-form" aria-label="{label}"></td><th scope="row" class="run-name">'
                '<a href="{url}">{name}</a></th><td>{started}</td><td><span class="status status-{status_class}">'
                "{status}</span></td><td>{user}</td><td>{took}</td>{cells}<td>{job}{flag}</td></tr>",
                id=run["run_id"],
                label=label,
                started=when(started) if started else "",
                url=f"{run_url}{run['run_id']}/",
                name=run["run_name"] or run["run_id"],
                status_class=run["status"].lower(),
                status=mlflow_state(run["status"]),
                user=run["user"],
                took=took,
                cells=mark_safe("".join(_cell(kind, value) for kind, value in run["cells"])),  # noqa: S308
                job=format_html('<a href="{}">#{}</a>', job["url"], job["id"]) if job else "",
                flag=underused if run["tags"].get(gateway.GPU_UNDERUSED_TAG) == "true" else "",
            )
        )
    return mark_safe("\n".join(rows))  # noqa: S308 - every piece went through format_html


def _number(value) -> float | None:
    """A parameter or metric as a number when it is one (and finite), else None."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number and abs(number) != float("inf") else None


@mlflow_page
def run_charts(request: HttpRequest, slug: str) -> HttpResponse:
    """Many runs at once: a metric against a parameter (scatter) and parallel coordinates of the
    parameters and the metric, from ONE search of at most CHART_RUNS runs, with the same data as
    a table under the charts."""
    project = get_project_for_user(request.user, slug)
    experiment_id = request.GET.get("experiment", "")
    if experiment_id:
        experiment = gateway.get_experiment(project.slug, experiment_id)
        experiment_ids = [experiment["experiment_id"]]
    else:
        experiment, experiment_ids = None, gateway.project_experiment_ids(project.slug)
    filter_string = request.GET.get("filter", "").strip()
    page, error = _search(experiment_ids, filter_string, "", CHART_RUNS, "")
    runs = page["runs"]
    metric_keys = sorted({k for run in runs for k in run["metrics"]})
    param_keys = sorted({k for run in runs for k in run["params"]})
    metric = request.GET.get("metric", "")
    metric = metric if metric in metric_keys else (metric_keys[0] if metric_keys else "")
    param = request.GET.get("param", "")
    param = param if param in param_keys else (param_keys[0] if param_keys else "")
    axes = param_keys[:8]  # parallel coordinates: a few parameters, then the metric
    rows = [
        {
            "run_id": run["run_id"],
            "name": run["run_name"] or run["run_id"][:8],
            "url": reverse("experiments:run", args=[project.slug, run["run_id"]]),
            "params": [run["params"].get(key, "") for key in axes],
            "param": run["params"].get(param, ""),
            "metric": run["metrics"].get(metric),
        }
        for run in runs
    ]
    data = {
        "metric": metric,
        "param": param,
        "axes": axes,
        "runs": [
            {
                "name": row["name"],
                "param": row["param"],
                "x": _number(row["param"]),
                "params": row["params"],
                "metric": _number(row["metric"]),
            }
            for row in rows
        ],
    }
    context = {
        "project": project,
        "experiment": experiment,
        "filter": filter_string,
        "error": error,
        "rows": rows,
        "axes": axes,
        "metric": metric,
        "param": param,
        "metric_keys": metric_keys,
        "param_keys": param_keys,
        "chart_data": data,
        "limit": CHART_RUNS,
        "more": bool(page["next_page_token"]),
    }
    return render(request, "experiments/charts.html", context)
