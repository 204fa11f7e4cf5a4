"""djsession.py: drive a real Django's session machinery for sessionfs tests.

Run by harness.Django.Call as `python3 -c <this file>`. It reads one JSON
object from stdin:

    {"settings": {...harness.Settings...}, "op": "decode", "req": ...}

configures Django with settings.configure() (SESSION_ENGINE = the file
backend, or the database backend when settings name a database), runs the
op over the whole batch (importing Django costs ~0.3 s, so every op takes a
list) and writes {"resp": ...} as JSON to stdout. Any unexpected exception
ends the process with a traceback on stderr and exit 1.

Only public Django APIs are used: SessionStore().encode/decode, the
backends' load/save/exists/create/delete/clear_expired, the session model,
and the migrate command.
"""

import json
import os
import sys
import time
import traceback
import warnings


def configure(s):
    import django
    from django.conf import settings

    conf = {
        "SECRET_KEY": s["secret_key"],
        "INSTALLED_APPS": ["django.contrib.sessions", "django.contrib.auth", "django.contrib.contenttypes"],
        # Users for the login op live in a throw-away in-memory database;
        # MD5 keeps password hashing fast (the session only holds its HMAC).
        "DATABASES": {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
        "PASSWORD_HASHERS": ["django.contrib.auth.hashers.MD5PasswordHasher"],
        "SESSION_ENGINE": "django.contrib.sessions.backends.file",
        "USE_TZ": True,
    }
    if s.get("fallbacks"):
        conf["SECRET_KEY_FALLBACKS"] = s["fallbacks"]
    if s.get("session_file_path"):
        conf["SESSION_FILE_PATH"] = s["session_file_path"]
    if s.get("cookie_name"):
        conf["SESSION_COOKIE_NAME"] = s["cookie_name"]
    if s.get("cookie_age"):
        conf["SESSION_COOKIE_AGE"] = s["cookie_age"]
    if s.get("hashing_algorithm"):
        conf["DEFAULT_HASHING_ALGORITHM"] = s["hashing_algorithm"]
    if s.get("database"):
        conf["DATABASES"] = {"default": s["database"]}
        conf["SESSION_ENGINE"] = "django.contrib.sessions.backends.db"
    if s.get("use_tz") is not None:
        conf["USE_TZ"] = bool(s["use_tz"])
    if s.get("time_zone"):
        conf["TIME_ZONE"] = s["time_zone"]
        # A settings module makes Django set the process zone; configure()
        # does not, and naive datetimes (USE_TZ=False) are local time.
        os.environ["TZ"] = s["time_zone"]
        time.tzset()
    ser = s.get("serializer") or "json"
    if ser == "json":
        conf["SESSION_SERIALIZER"] = "django.contrib.sessions.serializers.JSONSerializer"
    elif ser == "pickle":
        # 3.2 and 4.x have it (4.1+ warns, silenced in main); 5.x removed it,
        # so asking for pickle there fails loudly at import time below.
        conf["SESSION_SERIALIZER"] = "django.contrib.sessions.serializers.PickleSerializer"
    else:
        raise ValueError("unknown serializer %r" % ser)
    settings.configure(**conf)
    django.setup()

    from django.utils.module_loading import import_string

    if s.get("database"):
        from django.contrib.sessions.backends.db import SessionStore
    else:
        from django.contrib.sessions.backends.file import SessionStore

    import_string(conf["SESSION_SERIALIZER"])  # fail now, not inside encode
    if s.get("session_model") == "user_sessions":
        SessionStore = user_sessions_store(SessionStore)
    elif s.get("session_model"):
        raise ValueError("unknown session model %r" % s["session_model"])
    name = s.get("store_class") or ""
    if name:
        # A subclass is how a project changes the salts: Django derives them
        # from the class name (spec section 1).
        return type(name, (SessionStore,), {"__qualname__": name})
    return SessionStore


def user_sessions_store(DBStore):
    """A custom session model shaped like django-user-sessions' Session.

    Table user_sessions_session: Django's three columns plus an indexed
    user_id (an integer, as the foreign key to the user is) and NOT NULL
    user_agent and last_activity, which the model fills on every save. The
    store keeps the class name SessionStore, as django-user-sessions does,
    so the salts are Django's.
    """
    from django.contrib.sessions.base_session import AbstractBaseSession
    from django.db import models

    class UserSession(AbstractBaseSession):
        user_id = models.IntegerField(null=True, db_index=True)
        user_agent = models.CharField(max_length=200)
        last_activity = models.DateTimeField(auto_now=True)
        ip = models.GenericIPAddressField(null=True, blank=True)

        class Meta:
            app_label = "sessions"
            db_table = "user_sessions_session"

    class SessionStore(DBStore):
        custom_model = UserSession

        @classmethod
        def get_model_class(cls):
            return UserSession

        def create_model_instance(self, data):
            obj = super().create_model_instance(data)
            uid = data.get("_auth_user_id")
            obj.user_id = int(uid) if uid is not None else None
            obj.user_agent = "djsession.py"
            return obj

    # The salts come from __qualname__: make it the module-level name
    # django-user-sessions' class has.
    SessionStore.__qualname__ = "SessionStore"
    return SessionStore


def jsonable(value):
    """json.dumps default: values only pickle can carry, shown by repr."""
    return {"__repr__": repr(value), "__type__": type(value).__name__}


def op_info(Store, req):
    import django

    return {"version": django.get_version(), "python": sys.version.split()[0]}


def op_encode(Store, req):
    return [Store().encode(d) for d in req]


def op_decode(Store, req):
    out = []
    for text in req:
        try:
            out.append({"ok": True, "data": Store().decode(text)})
        except Exception as e:  # report what Django raised, as the spec lists it
            out.append({"ok": False, "error": type(e).__name__, "message": str(e)})
    return out


def fill(store, data):
    # clear() empties the cache without loading the file; update() marks it
    # modified. save() then writes exactly data.
    store.clear()
    store.update(data)


def op_save(Store, req):
    from django.contrib.sessions.backends.base import CreateError, UpdateError

    out = []
    for item in req:
        s = Store(session_key=item["key"])
        fill(s, item["data"])
        try:
            s.save(must_create=bool(item.get("must_create")))
            out.append({"ok": True, "key": s.session_key})
        except (CreateError, UpdateError) as e:
            out.append({"ok": False, "key": s.session_key, "error": type(e).__name__})
    return out


def session_path(key):
    """Where the file backend keeps key (spec 7.1), for reporting only."""
    import tempfile
    from django.conf import settings

    directory = settings.SESSION_FILE_PATH or tempfile.gettempdir()
    return os.path.join(directory, settings.SESSION_COOKIE_NAME + (key or ""))


def present(Store, key):
    """Whether the backend holds key: the file, or the row (expired or not)."""
    from django.conf import settings

    if settings.SESSION_ENGINE.endswith(".db"):
        return Store.get_model_class().objects.filter(session_key=key).exists()
    return os.path.exists(session_path(key))


def op_load(Store, req):
    out = []
    for key in req:
        s = Store(session_key=key)
        existed = present(Store, key)
        try:
            data = s.load()
        except Exception as e:
            out.append({"ok": False, "error": type(e).__name__, "message": str(e), "existed": existed})
            continue
        out.append({
            "ok": True,
            "data": data,
            "key": s.session_key,  # None: key dropped; a new key: load() created one
            "key_kept": s.session_key == key,
            "existed": existed,
            "exists_after": present(Store, key),
        })
    return out


def op_exists(Store, req):
    return [Store().exists(key) for key in req]


def op_create(Store, req):
    keys = []
    for data in req:
        s = Store()
        fill(s, data)
        s.save()  # no key yet: save() calls create(), which picks a fresh key
        keys.append(s.session_key)
    return keys


def op_delete(Store, req):
    for key in req:
        Store().delete(key)
    return None


def op_login(Store, req):
    """Log users in with django.contrib.auth's login(), as a view would.

    Each item is {"key", "user_id", "extra"}: a user with that primary key
    logs in on a fresh request (login() cycles the session key and stores
    _auth_user_id, _auth_user_backend and _auth_user_hash), "extra" members
    are added as a view would, and the session is saved under item["key"]
    with must_create, so tests can name their sessions.
    """
    from django.contrib.auth import get_user_model, login
    from django.core.management import call_command
    from django.http import HttpRequest

    call_command("migrate", run_syncdb=True, verbosity=0)
    User = get_user_model()
    out = []
    for item in req:
        uid = int(item["user_id"])
        user = User.objects.filter(pk=uid).first()
        if user is None:
            user = User.objects.create_user(id=uid, username="user%d" % uid, password="pw%d" % uid)
        request = HttpRequest()
        request.session = Store()
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        for k, v in (item.get("extra") or {}).items():
            request.session[k] = v
        data = dict(request.session.items())
        request.session.delete()  # login() saved under a random key: move it to item["key"]
        s = Store(session_key=item["key"])
        fill(s, data)
        s.save(must_create=True)
        out.append({"key": s.session_key, "data": data})
    return out


def op_migrate(Store, req):
    """manage.py migrate of the installed apps (sessions, auth,
    contenttypes); a custom session model's table is created from the
    model, as its own migration would. Returns the database's tables."""
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    model = getattr(Store, "custom_model", None)
    if model is not None and model._meta.db_table not in connection.introspection.table_names():
        with connection.schema_editor() as editor:
            editor.create_model(model)
    return sorted(connection.introspection.table_names())


def op_rows(Store, req):
    """The session model's rows as Django reads them: req is a list of keys,
    or null for all. expire_date is Django's datetime in ISO 8601: aware
    (UTC) with USE_TZ, naive local time without."""
    qs = Store.get_model_class().objects.order_by("session_key")
    if req is not None:
        qs = qs.filter(session_key__in=req)
    return [{"key": r.session_key, "data": r.session_data, "expire_date": r.expire_date.isoformat()} for r in qs]


def op_clear_expired(Store, req):
    Store.clear_expired()
    return None


def op_bench_decode(Store, req):
    """Time SessionStore().decode over req["texts"], best of req["rounds"].

    Only the loop is timed (time.perf_counter), so interpreter start and the
    Django import do not count. A result that is {} counts as a failure.
    """
    texts = req["texts"]
    store = Store()
    best, failures = None, 0
    for _ in range(int(req.get("rounds", 3))):
        start = time.perf_counter()
        for text in texts:
            store.decode(text)
        elapsed = time.perf_counter() - start
        best = elapsed if best is None else min(best, elapsed)
    for text in texts:
        if not store.decode(text):
            failures += 1
    return {"seconds": best, "n": len(texts), "failures": failures}


def op_bench_load(Store, req):
    """Time SessionStore(session_key=key).load() over req["keys"], best of req["rounds"].

    As bench_decode, only the loop is timed. This is what a Django view pays
    to read a session: the file read, the decode and the expiry check. A load
    that returns {} or drops the key counts as a failure (checked untimed).
    """
    keys = req["keys"]
    best = None
    for _ in range(int(req.get("rounds", 1))):
        start = time.perf_counter()
        for key in keys:
            Store(session_key=key).load()
        elapsed = time.perf_counter() - start
        best = elapsed if best is None else min(best, elapsed)
    failures = 0
    for key in keys:
        s = Store(session_key=key)
        if not s.load() or s.session_key != key:
            failures += 1
    return {"seconds": best, "n": len(keys), "failures": failures}


def op_bench_save(Store, req):
    """Time SessionStore(session_key=key) with the data, then save(), over req["sessions"].

    One round only: a second would rewrite what the first wrote. The file
    backend writes a temp file and renames it over the session, without fsync.
    """
    items = req["sessions"]
    start = time.perf_counter()
    for item in items:
        s = Store(session_key=item["key"])
        fill(s, item["data"])
        s.save()
    elapsed = time.perf_counter() - start
    return {"seconds": elapsed, "n": len(items), "failures": 0}


def op_bench_clear_expired(Store, req):
    """Time SessionStore.clear_expired() alone, without the interpreter start."""
    start = time.perf_counter()
    Store.clear_expired()
    return {"seconds": time.perf_counter() - start, "n": 0, "failures": 0}


def looping(req, step):
    """Run step() until req["seconds"] pass or req["stop_file"] appears.

    req["ready_file"] is created once Django is set up, so the Go side can
    start its own half of a concurrency test at the right moment.
    """
    deadline = time.monotonic() + float(req.get("seconds", 1))
    stop = req.get("stop_file")
    if req.get("ready_file"):
        open(req["ready_file"], "w").close()
    n, errors, samples = 0, 0, []
    while time.monotonic() < deadline and not (stop and os.path.exists(stop)):
        try:
            problem = step()
        except Exception as e:
            problem = "%s: %s" % (type(e).__name__, e)
        n += 1
        if problem:
            errors += 1
            if len(samples) < 10:
                samples.append(problem)
    return {"iterations": n, "errors": errors, "samples": samples}


def op_loop_save(Store, req):
    """Save req["sessions"] ([{key, data}]) round-robin; exceptions count as errors."""
    sessions = req["sessions"]
    i = [0]

    def step():
        item = sessions[i[0] % len(sessions)]
        i[0] += 1
        s = Store(session_key=item["key"])
        fill(s, item["data"])
        s.save()
        return None

    return looping(req, step)


def op_loop_load(Store, req):
    """Load req["keys"] round-robin while someone else saves them.

    An error is an exception, or a load that does not return one of the
    allowed sessions (req["want"][key] is a list of acceptable dicts; empty
    or missing means any non-empty dict), or a load that dropped the key.
    """
    keys = req["keys"]
    want = req.get("want") or {}
    i = [0]

    def step():
        key = keys[i[0] % len(keys)]
        i[0] += 1
        s = Store(session_key=key)
        data = s.load()
        if s.session_key != key:
            return "%s: key dropped or replaced (now %r)" % (key, s.session_key)
        allowed = want.get(key)
        if allowed and data not in allowed:
            return "%s: unexpected data %r" % (key, data)
        if not allowed and not data:
            return "%s: empty session" % key
        return None

    return looping(req, step)


OPS = {name[3:]: fn for name, fn in globals().items() if name.startswith("op_")}


def main():
    warnings.simplefilter("ignore")  # PickleSerializer's deprecation warning on 4.x
    msg = json.load(sys.stdin)
    op = OPS.get(msg["op"])
    if op is None:
        sys.exit("djsession.py: unknown op %r (have %s)" % (msg["op"], ", ".join(sorted(OPS))))
    Store = configure(msg["settings"])
    resp = op(Store, msg.get("req"))
    json.dump({"resp": resp}, sys.stdout, default=jsonable)


if __name__ == "__main__":
    try:
        main()
    except SystemExit:
        raise
    except BaseException:
        traceback.print_exc()
        sys.exit(1)
