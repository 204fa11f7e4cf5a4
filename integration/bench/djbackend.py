"""djbackend.py: the Python contenders of the database and cache rows.

Run by the benchmark as `python3 -c <this file>`. It reads one JSON object
from stdin:

    {"op": ..., "secret_key": ..., "database": {...DATABASES["default"]...}
     or "cache": {"location": ..., "backend": ..., "key_prefix": ...},
     "user": "7"}

configures Django 3.2 (the database session backend over that database, or
the cache session backend over django-redis), runs the op and writes
{"seconds": ..., "n": ...} as JSON to stdout. Only the loop is timed
(time.perf_counter): importing Django and connecting do not count.
"""

import json
import pickle
import sys
import time


def configure(req):
    import django
    from django.conf import settings

    conf = {
        "SECRET_KEY": req["secret_key"],
        "INSTALLED_APPS": ["django.contrib.sessions", "django.contrib.auth", "django.contrib.contenttypes"],
        "DATABASES": {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
        "SESSION_ENGINE": "django.contrib.sessions.backends.db",
        "USE_TZ": True,
    }
    if req.get("database"):
        conf["DATABASES"] = {"default": req["database"]}
    if req.get("cache"):
        c = req["cache"]
        conf["CACHES"] = {"default": {"BACKEND": c["backend"], "LOCATION": c["location"], "KEY_PREFIX": c.get("key_prefix", "")}}
        conf["SESSION_ENGINE"] = "django.contrib.sessions.backends.cache"
    settings.configure(**conf)
    django.setup()


def op_db_list(req):
    """Django's own way to see every session: iterate the model, decode each."""
    from django.contrib.sessions.models import Session

    n = 0
    start = time.perf_counter()
    for s in Session.objects.iterator():
        if s.get_decoded():
            n += 1
    return time.perf_counter() - start, n


def op_db_revoke(req):
    """An ORM loop that decodes every row and deletes the user's."""
    from django.contrib.sessions.models import Session

    user, n = req["user"], 0
    start = time.perf_counter()
    for s in Session.objects.iterator():
        if s.get_decoded().get("_auth_user_id") == user:
            s.delete()
            n += 1
    return time.perf_counter() - start, n


def op_db_clear_expired(req):
    """SessionStore.clear_expired(), what `manage.py clearsessions` calls."""
    from django.contrib.sessions.backends.db import SessionStore
    from django.contrib.sessions.models import Session
    from django.utils import timezone

    before = Session.objects.filter(expire_date__lt=timezone.now()).count()
    start = time.perf_counter()
    SessionStore.clear_expired()
    elapsed = time.perf_counter() - start
    return elapsed, before - Session.objects.filter(expire_date__lt=timezone.now()).count()


def op_redis_list(req):
    """redis-py: SCAN the session keys, GET each, unpickle it."""
    import redis

    c = req["cache"]
    r = redis.Redis.from_url(c["location"])
    match = "%s:1:django.contrib.sessions.cache*" % c.get("key_prefix", "")
    n = 0
    start = time.perf_counter()
    for key in r.scan_iter(match=match, count=1000):
        value = r.get(key)
        if value is not None and pickle.loads(value):
            n += 1
    return time.perf_counter() - start, n


def op_redis_revoke(req):
    """Django-side code revoking a user: django-redis's iter_keys (SCAN),
    cache.get of each session, cache.delete of the user's."""
    from django.core.cache import cache

    user, n = req["user"], 0
    start = time.perf_counter()
    for key in cache.iter_keys("django.contrib.sessions.cache*", itersize=1000):
        data = cache.get(key)
        if data and data.get("_auth_user_id") == user:
            cache.delete(key)
            n += 1
    return time.perf_counter() - start, n


def main():
    req = json.load(sys.stdin)
    configure(req)
    seconds, n = globals()["op_" + req["op"]](req)
    json.dump({"seconds": seconds, "n": n}, sys.stdout)


main()
