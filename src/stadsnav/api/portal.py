"""``/portal``: the developer portal. What anyone may use without a key, how to call it (curl
and Python), how much a plan allows and how to get a key; plain HTML, no script, nothing
fetched from elsewhere."""

from __future__ import annotations

from html import escape
from typing import Final

from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse

from stadsnav.api.deps import RuntimeDep
from stadsnav.api.problems import ApiError
from stadsnav.workspace import Workspace
from stadsnav.workspace.models import Dataset, PlanSettings, Product

router = APIRouter(prefix="/portal", tags=["developer portal"])

_STYLE: Final = """
body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}
body{line-height:1.5}
code,pre{background:#f4f4f4;border-radius:4px}pre{padding:.8rem;overflow-x:auto}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3rem .6rem;text-align:left}
"""


def _page(title: str, body: str) -> HTMLResponse:
    return HTMLResponse(
        f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body>{body}</body></html>",
        headers={"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"},
    )


def _open(workspace: Workspace) -> list[Dataset]:
    return [d for d in workspace.datasets.values() if d.classification == "open"]


def _products_of(workspace: Workspace, dataset: Dataset) -> list[Product]:
    return [p for p in workspace.products.values() if p.dataset == dataset.id]


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


@router.get("", response_class=HTMLResponse, summary="The developer portal")
async def portal(request: Request, runtime: RuntimeDep) -> HTMLResponse:
    """The open datasets and their APIs, the plans, and how to get a key."""
    workspace = runtime.workspace
    name = escape(workspace.settings.workspace.name)
    items = []
    for dataset in _open(workspace):
        products = "".join(
            f'<li><a href="/portal/apis/{escape(p.id)}">{escape(p.title)}</a>: '
            f"<code>/api/v1/{escape(p.path)}</code></li>"
            for p in _products_of(workspace, dataset)
        )
        types = ", ".join(f"<code>{escape(t)}</code>" for t in dataset.entity_types)
        items.append(
            f"<h3>{escape(dataset.title)}</h3><p>{escape(dataset.description)}</p>"
            f"<p>Licence: {escape(dataset.licence or 'ask the owner')}. Owner: "
            f'{escape(dataset.owner.name)} (<a href="mailto:{escape(dataset.owner.email)}">'
            f"{escape(dataset.owner.email)}</a>). NGSI-LD types: {types or 'none'}.</p>"
            f"<ul>{products}</ul>"
        )
    gateway = workspace.settings.gateway
    body = (
        f"<h1>{name}: open data and APIs</h1>"
        "<p>Everything listed here can be read without a key. Two kinds of API serve it: "
        "simple <b>data products</b> (JSON, GeoJSON or CSV) and the <b>NGSI-LD</b> context API "
        '(ETSI GS CIM 009; <a href="/portal/apis/ngsi-ld">how to use it</a>). The whole '
        'interface is described in <a href="/openapi.json">OpenAPI 3.1</a> and can be tried in '
        '<a href="/docs">the API explorer</a>.</p>'
        f"<h2>Open datasets</h2>{''.join(items) or '<p>None yet.</p>'}"
        f"<h2>Plans</h2>{_plans(gateway.plans, gateway.anonymous_plan)}"
        "<h2>Getting a key</h2><p>Internal and personal datasets, writing data and higher "
        "limits need an API key. Ask the owner of the dataset you need (above) or the city's "
        "IT department: say who you are, which datasets you need, what for, and which plan. "
        "You get a key once (<code>snk_…</code>); send it as <code>X-API-Key</code>, or trade "
        "it for a short-lived token at <code>POST /oauth/token</code> (OAuth2 client "
        "credentials). Keep it secret; if it leaks, ask for it to be revoked.</p>"
    )
    return _page(f"{workspace.settings.workspace.name}: developer portal", body)


def _plans(plans: dict[str, PlanSettings], anonymous: str) -> str:
    def cell(value: float | int | None) -> str:
        return "–" if value is None else f"{value:,g}"

    rows = "".join(
        f"<tr><td>{escape(name)}{' (without a key)' if name == anonymous else ''}</td>"
        f"<td>{cell(plan.rate)} / {cell(plan.bursts)}</td><td>{cell(plan.daily_quota)}</td>"
        f"<td>{cell(plan.monthly_quota)}</td><td>{cell(plan.max_page_size)}</td></tr>"
        for name, plan in plans.items()
    )
    return (
        "<table><tr><th>plan</th><th>requests per second / at once</th><th>per day</th>"
        f"<th>per month</th><th>largest page</th></tr>{rows}</table>"
        "<p>Past a limit the answer is <code>429</code> with <code>Retry-After</code>; every "
        "answer says where your limits stand in <code>RateLimit-Policy</code> and "
        "<code>RateLimit</code>.</p>"
    )


@router.get("/apis/ngsi-ld", response_class=HTMLResponse, summary="Using the NGSI-LD API")
async def ngsi_ld_page(request: Request, runtime: RuntimeDep) -> HTMLResponse:
    """How to query the NGSI-LD API, with examples on an open type."""
    base = _base(request)
    types = [t for d in _open(runtime.workspace) for t in d.entity_types]
    example = types[0] if types else "Beach"
    url = f"{base}/ngsi-ld/v1/entities?type={example}&limit=10"
    body = (
        "<h1>The NGSI-LD API</h1><p>Entities with their attributes, queried by type, "
        "attribute values (<code>q</code>), place (<code>georel</code>) and time (the "
        f"temporal API). Open types: {', '.join(f'<code>{escape(t)}</code>' for t in types)}."
        "</p><h2>curl</h2>"
        f"<pre>curl '{escape(url)}' -H 'Accept: application/json'</pre>"
        "<h2>Python</h2>"
        f"<pre>import httpx\n\nanswer = httpx.get(\n    '{escape(base)}/ngsi-ld/v1/entities',\n"
        f"    params={{'type': '{escape(example)}', 'limit': 10}},\n"
        "    headers={'Accept': 'application/json'},  # add 'X-API-Key': key for more\n)\n"
        "for entity in answer.json():\n    print(entity['id'])</pre>"
        "<p>Pages: <code>limit</code> and <code>offset</code>, the next page's URL in the "
        '<code>Link</code> header. <a href="/portal">Back to the portal</a>.</p>'
    )
    return _page("The NGSI-LD API", body)


@router.get("/apis/{product_id}", response_class=HTMLResponse, summary="One data product's API")
async def product_page(product_id: str, request: Request, runtime: RuntimeDep) -> HTMLResponse:
    """One open data product: what it serves, and how to call it in curl and Python."""
    workspace = runtime.workspace
    product = workspace.products.get(product_id)
    dataset = None if product is None else workspace.datasets.get(product.dataset)
    if product is None or dataset is None or dataset.classification != "open":
        raise ApiError(404, f"there is no open data product {product_id}")
    url = f"{_base(request)}/api/v1/{product.path}"
    fields = "".join(
        f"<tr><td><code>{escape(name)}</code></td><td>{escape(source)}</td></tr>"
        for name, source in product.fields.items()
    )
    body = (
        f"<h1>{escape(product.title)}</h1><p>{escape(product.description)}</p>"
        f"<p>From the dataset <b>{escape(dataset.title)}</b>, licence "
        f"{escape(dataset.licence or 'ask the owner')}.</p>"
        f"<h2>Fields</h2><table><tr><th>field</th><th>from</th></tr>{fields}</table>"
        "<h2>curl</h2>"
        f"<pre>curl '{escape(url)}'\ncurl '{escape(url)}?format=geojson'\n"
        f"curl '{escape(url)}?format=csv'</pre>"
        "<h2>Python</h2>"
        f"<pre>import httpx\n\nitems = httpx.get('{escape(url)}').json()['data']\n"
        "for item in items:\n    print(item)</pre>"
        '<p>The operation and its answers: <a href="/docs">API explorer</a>. '
        '<a href="/portal">Back to the portal</a>.</p>'
    )
    return _page(product.title, body)
