# Prints a Django site's session settings as JSON on file descriptor 3 (not
# stdout: a settings module may print). Run by sessionfs with the settings
# module in DJANGO_SETTINGS_MODULE and the project directory in
# SESSIONFS_DJANGO_PROJECT; nothing secret is ever in argv.
import base64
import json
import os
import sys

project = os.environ.get("SESSIONFS_DJANGO_PROJECT")
if project:
    sys.path.insert(0, project)

import django
from django.conf import settings
from django.utils.module_loading import import_string


def key_bytes(k):
    # Django signs with force_bytes(key): str as UTF-8, bytes as they are.
    if isinstance(k, str):
        k = k.encode("utf-8")
    return base64.b64encode(bytes(k)).decode("ascii")


out = {
    "django_version": django.get_version(),
    "secret_key": key_bytes(settings.SECRET_KEY),
    "secret_key_fallbacks": [key_bytes(k) for k in getattr(settings, "SECRET_KEY_FALLBACKS", [])],
    "session_engine": settings.SESSION_ENGINE,
    "session_file_path": getattr(settings, "SESSION_FILE_PATH", None),
    "session_cookie_name": settings.SESSION_COOKIE_NAME,
    "session_cookie_age": settings.SESSION_COOKIE_AGE,
    "session_serializer": settings.SESSION_SERIALIZER,
    "default_hashing_algorithm": getattr(settings, "DEFAULT_HASHING_ALGORITHM", None),
    "file_backend": None,
    "key_salt": None,
    "engine_error": None,
    "backend": None,
    "session_table": None,
    "use_tz": bool(getattr(settings, "USE_TZ", False)),
    "time_zone": getattr(settings, "TIME_ZONE", None),
    "database": None,
}

# The signing salt is "django.contrib.sessions." + the store class's
# qualified name; a project may subclass the file store.
try:
    from django.contrib.sessions.backends.file import SessionStore as FileStore
    store = import_string(settings.SESSION_ENGINE + ".SessionStore")
    out["file_backend"] = issubclass(store, FileStore)
    out["key_salt"] = "django.contrib.sessions." + store.__qualname__
except Exception as e:  # an engine that needs the app registry, for one
    out["engine_error"] = "%s: %s" % (type(e).__name__, e)


def plain(v):
    # OPTIONS may hold classes or callables (a cursor factory): only plain
    # values travel.
    if isinstance(v, (str, int, float, bool)) or v is None:
        return v
    if isinstance(v, dict):
        return {str(k): plain(x) for k, x in v.items()}
    return None


# The backend the engine's SessionStore is, and for the database ones the
# session model's table and the database the router writes it to. The
# model needs the app registry: django.setup(), as manage.py does.
# A file backend needs none of it (and its site need not set up cleanly).
if out["file_backend"]:
    out["backend"] = "file"
elif out["engine_error"] is None or "AppRegistryNotReady" in out["engine_error"] or "Apps aren't loaded" in out["engine_error"]:
    try:
        django.setup()
        from django.contrib.sessions.backends.file import SessionStore as FileStore
        from django.contrib.sessions.backends.db import SessionStore as DBStore
        from django.contrib.sessions.backends.cache import SessionStore as CacheStore
        from django.contrib.sessions.backends.cached_db import SessionStore as CachedDBStore
        store = import_string(settings.SESSION_ENGINE + ".SessionStore")
        out["file_backend"] = issubclass(store, FileStore)
        out["key_salt"] = "django.contrib.sessions." + store.__qualname__
        out["engine_error"] = None
        for name, cls in (("cached_db", CachedDBStore), ("db", DBStore), ("cache", CacheStore), ("file", FileStore)):
            if issubclass(store, cls):
                out["backend"] = name
                break
        if out["backend"] in ("db", "cached_db"):
            from django.db import connections, router
            model = store.get_model_class()
            out["session_table"] = model._meta.db_table
            alias = router.db_for_write(model) or "default"
            d = connections[alias].settings_dict
            password = d.get("PASSWORD") or ""
            out["database"] = {
                "alias": alias,
                "engine": d.get("ENGINE") or "",
                "name": str(d.get("NAME") or ""),
                "host": str(d.get("HOST") or ""),
                "port": str(d.get("PORT") or ""),
                "user": str(d.get("USER") or ""),
                "password": base64.b64encode(str(password).encode("utf-8")).decode("ascii"),
                "options": plain(d.get("OPTIONS") or {}),
                "time_zone": d.get("TIME_ZONE"),
            }
    except Exception as e:
        out["engine_error"] = "%s: %s" % (type(e).__name__, e)

with os.fdopen(3, "w") as f:
    json.dump(out, f)
