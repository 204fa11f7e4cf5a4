"""djcache.py: drive a real Django's cache session backend for cachestore tests.

Reads {"settings": {...}, "op": ..., "req": ...} as JSON on stdin, configures
Django with settings.configure() (SESSION_ENGINE = backends.cache or
cached_db, CACHES["default"] as given), runs the op and writes {"resp": ...}.
Values a session holds that JSON has no type for are answered in sessionfs's
tagged JSON forms (README, "How sessions look as JSON"), so the Go side
compares JSON with JSON.

Ops:
  create  [{"data": {...}, "rich": bool, "expiry": null|int|"1d"}] -> [session_key]
  create_and_load  (as create) -> {"keys": [session_key], "sessions": [as load]}
  load    [session_key] -> [tagged dict or null when Django finds nothing]
  modify  [{"key": k, "set": {...}}]  (load, change, save: Django's GET then SET)
  incr    {"key": k, "member": m, "n": n}  (n times: load, add 1 to m, save) -> null
  slow_modify {"key": k, "set": {...}, "loaded": path, "go": path}
          (load, change, save, but between the save's GET and its SET create
          the file `loaded` and wait for the file `go`: a request in flight)
  multi   [{"op": ..., "req": ...}] -> [resp]  (several ops in one process)
"""

import base64
import datetime as dt
import decimal
import json
import math
import os
import sys


def configure(s):
    import django
    from django.conf import settings

    cache = {"BACKEND": s["backend"], "LOCATION": s["location"]}
    if s.get("key_prefix"):
        cache["KEY_PREFIX"] = s["key_prefix"]
    if s.get("version"):
        cache["VERSION"] = s["version"]
    if s.get("options"):
        cache["OPTIONS"] = s["options"]
    conf = {
        "SECRET_KEY": "cachestore-interop-secret-key-0123456789",
        "INSTALLED_APPS": ["django.contrib.sessions", "django.contrib.contenttypes"],
        "CACHES": {"default": cache},
        "SESSION_ENGINE": "django.contrib.sessions.backends." + (s.get("engine") or "cache"),
        "USE_TZ": True,
        # database: a SQLite file, or a whole DATABASES entry (PostgreSQL).
        "DATABASES": {"default": s["database"] if isinstance(s.get("database"), dict) else
                      {"ENGINE": "django.db.backends.sqlite3", "NAME": s.get("database") or ":memory:"}},
    }
    settings.configure(**conf)
    django.setup()
    if s.get("engine") == "cached_db":
        from django.core.management import call_command

        call_command("migrate", "sessions", verbosity=0)
    from importlib import import_module

    return import_module(conf["SESSION_ENGINE"]).SessionStore


def rich():
    from django.utils import timezone

    d = {
        "price": decimal.Decimal("9.99"),
        "tags": {"b", "a"},
        "pair": (1, "x"),
        "raw": b"\x00\xffbytes",
        "when": timezone.now(),
        "naive": dt.datetime(2024, 1, 2, 3, 4, 5),
        "day": dt.date(2024, 2, 29),
        "delta": dt.timedelta(days=2, seconds=5),
        "note": "caf\u00e9 \u2603",
    }
    try:
        import zoneinfo

        d["paris"] = dt.datetime(2024, 7, 1, 12, tzinfo=zoneinfo.ZoneInfo("Europe/Paris"))
    except ImportError:
        pass
    return d


def compact(v):
    return json.dumps(v, separators=(",", ":"))


TAGS = {"$tuple", "$set", "$frozenset", "$bytes", "$datetime", "$date", "$time", "$timedelta", "$decimal", "$dict", "$float", "$object"}


def zone_suffix(tz):
    try:
        import pytz

        if tz is pytz.utc:
            return "[pytz.utc]"
    except ImportError:
        pass
    try:
        import zoneinfo

        if isinstance(tz, zoneinfo.ZoneInfo):
            return "[" + tz.key + "]"
    except ImportError:
        pass
    if tz is None or type(tz) is dt.timezone:
        return ""
    raise ValueError("no tagged form for tzinfo %r" % tz)


def tagged(v):
    if v is None or isinstance(v, (bool, int, str)):
        return v
    if isinstance(v, float):
        if math.isnan(v):
            return {"$float": "nan"}
        if math.isinf(v):
            return {"$float": "inf" if v > 0 else "-inf"}
        return v
    if isinstance(v, dict):
        keys = list(v)
        shaped = (len(keys) == 1 and keys[0] in TAGS) or (keys and keys[0] == "$object")
        if all(isinstance(k, str) for k in keys) and not shaped:
            return {k: tagged(x) for k, x in v.items()}
        return {"$dict": [[tagged(k), tagged(x)] for k, x in v.items()]}
    if isinstance(v, list):
        return [tagged(x) for x in v]
    if isinstance(v, tuple):
        return {"$tuple": [tagged(x) for x in v]}
    if isinstance(v, (set, frozenset)):
        items = sorted((tagged(x) for x in v), key=compact)
        return {"$frozenset" if isinstance(v, frozenset) else "$set": items}
    if isinstance(v, bytes):
        return {"$bytes": base64.b64encode(v).decode()}
    if isinstance(v, dt.datetime):
        return {"$datetime": v.isoformat() + zone_suffix(v.tzinfo)}
    if isinstance(v, dt.date):
        return {"$date": v.isoformat()}
    if isinstance(v, dt.time):
        return {"$time": v.isoformat()}
    if isinstance(v, dt.timedelta):
        return {"$timedelta": {"days": v.days, "seconds": v.seconds, "microseconds": v.microseconds}}
    if isinstance(v, decimal.Decimal):
        return {"$decimal": str(v)}
    raise ValueError("no tagged form for %r" % (v,))


def op_create(Store, req):
    keys = []
    for item in req:
        s = Store()
        s.update(item.get("data") or {})
        if item.get("rich"):
            s.update(rich())
        exp = item.get("expiry")
        if exp == "1d":
            s.set_expiry(dt.timedelta(days=1))
        elif exp is not None:
            s.set_expiry(exp)
        s.create()
        keys.append(s.session_key)
    return keys


def op_load(Store, req):
    out = []
    for key in req:
        s = Store(session_key=key)
        data = s.load()
        out.append(tagged(data) if data else None)
    return out


def op_modify(Store, req):
    for item in req:
        s = Store(session_key=item["key"])
        s.update(item["set"])
        s.save()
    return None


def op_incr(Store, req):
    for _ in range(req["n"]):
        s = Store(session_key=req["key"])
        s[req["member"]] = s.get(req["member"], 0) + 1
        s.save()
    return None


def op_slow_modify(Store, req):
    import time

    s = Store(session_key=req["key"])
    s.update(req["set"])
    cache_set = s._cache.set

    def slow_set(*args, **kwargs):
        open(req["loaded"], "w").close()
        deadline = time.time() + 60
        while not os.path.exists(req["go"]):
            if time.time() > deadline:
                raise TimeoutError("never told to go on")
            time.sleep(0.01)
        return cache_set(*args, **kwargs)

    s._cache.set = slow_set
    s.save()
    return None


def op_create_and_load(Store, req):
    keys = op_create(Store, req)
    return {"keys": keys, "sessions": op_load(Store, keys)}


OPS = {"create_and_load": op_create_and_load, "create": op_create, "load": op_load, "modify": op_modify, "incr": op_incr, "slow_modify": op_slow_modify}


def op_multi(Store, req):
    return [OPS[item["op"]](Store, item["req"]) for item in req]


OPS["multi"] = op_multi


def main():
    msg = json.load(sys.stdin)
    Store = configure(msg["settings"])
    resp = OPS[msg["op"]](Store, msg["req"])
    json.dump({"resp": resp}, sys.stdout)


if __name__ == "__main__":
    main()
