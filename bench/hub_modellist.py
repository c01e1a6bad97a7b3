"""GET /modelList over 100,000 repositories on PostgreSQL: p50/p95 per query shape, and
the ratio to a bare Django JsonResponse view running the same query.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/crucible_hubbench \\
        .venv/bin/python bench/hub_modellist.py [--repos 100000] [--requests 200]

The database is created if missing, migrated, and filled once with bulk_create (repositories
with one to three tags each, 1000 owners); later runs reuse it. Both views are called
through Django's test client (full middleware stack, no network), anonymously.

/modelList serves its total from the count cache (hub.selectors.cached_count: exact, keyed
by the list generation) after the first request of a query; the bare view counts every time,
so the ratio shows what the cache saves. The first (uncached) request of each query is
reported separately as "cold".
"""

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/crucible_hubbench")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")


def ensure_database(url):
    import psycopg

    name = url.rsplit("/", 1)[1]
    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("select 1 from pg_database where datname = %s", [name]).fetchone():
            conn.execute(f'create database "{name}"')


def fill(total):
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction
    from django.utils import timezone

    from hub import services
    from hub.models import Repository, Tag
    from hub.seed import VOCABULARY

    existing = Repository.objects.count()
    if existing >= total:
        return existing, 0.0
    started = time.perf_counter()
    for category, names in VOCABULARY.items():
        for name in names:
            services.tag_objects({category: [name]})
    tags = list(Tag.objects.all())
    User = get_user_model()
    owners = list(User.objects.filter(username__startswith="bench-owner-"))
    if not owners:
        User.objects.bulk_create([User(username=f"bench-owner-{i:04d}", password="!") for i in range(1000)])
        owners = list(User.objects.filter(username__startswith="bench-owner-"))
    rng = random.Random(42)
    now = timezone.now()
    Through = Repository.tags.through
    batch = 10_000
    for start in range(existing, total, batch):
        with transaction.atomic():
            rows = []
            for i in range(start, min(total, start + batch)):
                owner = owners[i % len(owners)]
                name = f"model-{i:06d}-{rng.choice(['bert', 'gpt', 'vit', 'whisper', 'resnet', 't5'])}"
                rows.append(
                    Repository(
                        owner=owner,
                        name=name,
                        full_name=f"{owner.username}/{name}",
                        type="dataset" if i % 10 == 0 else "model",
                        private=i % 20 == 0,
                        downloads=rng.randint(0, 1_000_000),
                        last_modified=now - timezone.timedelta(minutes=rng.randint(0, 500_000)),
                        last_message="Upload files",
                    )
                )
            created = Repository.objects.bulk_create(rows)
            links = []
            for repo in created:
                for tag in rng.sample(tags, rng.randint(1, 3)):
                    links.append(Through(repository_id=repo.pk, tag_id=tag.pk))
            Through.objects.bulk_create(links, ignore_conflicts=True)
    with connection.cursor() as cursor:
        cursor.execute("vacuum analyze")
    return Repository.objects.count(), time.perf_counter() - started


def bare_model_list(request):
    """The same query as /modelList, answered by a plain JsonResponse (no DRF, no envelope helper)."""
    from django.http import JsonResponse

    from hub.models import Repository, Tag

    params = request.GET
    qs = Repository.objects.filter(private=False)
    for category in ("task", "library", "dataset", "language", "other"):
        if params.get(category):
            qs = qs.filter(tags__in=Tag.objects.filter(category=category, name=params[category]))
    if params.get("name"):
        qs = qs.filter(full_name__icontains=params["name"])
    order = {"recent": ("-last_modified", "-id"), "name": ("full_name", "id")}.get(
        params.get("sortType"), ("-downloads", "-last_modified", "-id")
    )
    page = int(params.get("pageIndex") or 1)
    total = qs.count()
    rows = qs.order_by(*order).select_related("owner")[(page - 1) * 30 : page * 30]
    data = [
        {
            "_id": r.uid,
            "name": r.full_name,
            "author": r.owner.username,
            "lastModified": r.last_modified.strftime("%Y/%-m/%-d %-H:%M"),
            "type": r.type,
            "downloads": r.downloads,
        }
        for r in rows
    ]
    return JsonResponse({"code": 0, "msg": "no login", "data": {"modelList": data, "numTotalItems": total}})


QUERIES = [
    ("no filter (trending)", {}),
    ("sort downloads", {"sortType": "downloads"}),
    ("sort likes", {"sortType": "likes"}),
    ("sort recent", {"sortType": "recent"}),
    ("task", {"task": "Token Classification"}),
    ("task + language", {"task": "Text-to-Image", "language": "English"}),
    ("name search", {"name": "whisper"}),
    ("rare name search", {"name": "0421"}),
    ("deep page 200", {"pageIndex": 200}),
    ("task, recent, page 20", {"task": "Object Detection", "sortType": "recent", "pageIndex": 20}),
    ("library, name sort", {"library": "Timm", "sortType": "name"}),
]


def timed_get(client, url, params):
    started = time.perf_counter()
    response = client.get(url, params)
    elapsed = (time.perf_counter() - started) * 1000
    assert response.status_code == 200, response.content[:300]
    return elapsed, response


def measure(client, params, n):
    """Alternate /modelList and the bare view, so that load changes on the machine hit both alike."""
    facade, bare = [], []
    for _ in range(n):
        elapsed, body = timed_get(client, "/modelList", params)
        facade.append(elapsed)
        elapsed, bare_body = timed_get(client, "/bare/modelList", params)
        bare.append(elapsed)
    return summary(facade), summary(bare), body.json(), bare_body.json()


def summary(timings):
    timings = sorted(timings)
    return statistics.median(timings), timings[max(0, int(len(timings) * 0.95) - 1)]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repos", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    ensure_database(os.environ["DATABASE_URL"])

    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.test import Client
    from django.test.utils import override_settings, setup_test_environment
    from django.urls import path

    call_command("migrate", verbosity=0)
    count, fill_seconds = fill(args.repos)
    print(f"repositories: {count} (filled in {fill_seconds:.1f} s)" if fill_seconds else f"repositories: {count}")

    import config.urls

    module = type(sys)("bench_hub_urls")
    module.urlpatterns = [path("bare/modelList", bare_model_list), *config.urls.urlpatterns]
    sys.modules["bench_hub_urls"] = module
    setup_test_environment()
    client = Client()
    print(f"{'query':28} {'/modelList p50':>15} {'p95':>8} {'cold':>8} {'bare p50':>10} {'p95':>8} {'ratio p50':>10} {'total':>7}")
    with override_settings(ROOT_URLCONF="bench_hub_urls", ALLOWED_HOSTS=["*"], DEBUG=False):
        for label, params in QUERIES:
            from django.core.cache import cache

            cache.clear()
            cold, _ = timed_get(client, "/modelList", params)  # counts, then caches the total
            client.get("/bare/modelList", params)
            (p50, p95), (b50, b95), body, bare = measure(client, params, args.requests)
            assert body["data"]["numTotalItems"] == bare["data"]["numTotalItems"]
            assert [r["name"] for r in body["data"]["modelList"]] == [r["name"] for r in bare["data"]["modelList"]]
            total = body["data"]["numTotalItems"]
            print(
                f"{label:28} {p50:12.1f} ms {p95:5.1f} ms {cold:5.1f} ms {b50:7.1f} ms {b95:5.1f} ms "
                f"{p50 / b50:9.2f}x {total:7d}"
            )
    print(f"database: {settings.DATABASES['default']['ENGINE']} {settings.DATABASES['default']['NAME']}")


if __name__ == "__main__":
    main()
