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

with os.fdopen(3, "w") as f:
    json.dump(out, f)
