"""Dog school workload of annals' BenchmarkDogSchool, on pyeventsourcing.

Mirrors examples/dogschool/school_bench_test.go (lib variant):
  commands: new application (new store); OPS times: register 1,000 new dogs,
            then teach each 10 tricks, one command each (11,000 commands/op).
  gets:     new application; teach once (untimed); OPS times: get every dog
            and check its name and tricks (1,000 gets/op).
Each phase prints ns/op, cpu-ns/op and units/s, like `go test -bench`.
"""
import argparse, json, os, sys, tempfile, time, shutil

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event


# --- The README's DogSchool, verbatim ---------------------------------------
class Dog(Aggregate):
    @event('Registered')
    def __init__(self, name):
        self.name = name
        self.tricks = []

    @event('TrickAdded')
    def add_trick(self, trick):
        self.tricks.append(trick)


class DogSchool(Application):
    def register_dog(self, name):
        dog = Dog(name)
        self.save(dog)
        return dog.id

    def add_trick(self, dog_id, trick):
        dog = self.repository.get(dog_id)
        dog.add_trick(trick)
        self.save(dog)

    def get_dog(self, dog_id):
        dog = self.repository.get(dog_id)
        return {'name': dog.name, 'tricks': tuple(dog.tricks)}
# -----------------------------------------------------------------------------

TRICKS = tuple("trick number %d" % (i + 1) for i in range(10))


def teach(school, dogs):
    ids = [school.register_dog("Dog %d" % i) for i in range(dogs)]
    for dog_id in ids:
        for trick in TRICKS:
            school.add_trick(dog_id, trick)
    return ids


def get_all(school, ids):
    for i, dog_id in enumerate(ids):
        dog = school.get_dog(dog_id)
        if dog['name'] != "Dog %d" % i or dog['tricks'] != TRICKS:
            raise AssertionError("dog %d is %r" % (i, dog))


def make_school(store, tmp, sync):
    if store == "memory":
        return DogSchool(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}), None
    path = os.path.join(tempfile.mkdtemp(dir=tmp), "dogs.db")
    school = DogSchool(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite",
                            "SQLITE_DBNAME": path})
    if sync:  # only when asked: set synchronous on every pooled connection
        pool = school.recorder.datastore.pool
        orig = pool._create_connection
        def create():
            c = orig()
            c._sqlite_conn.execute("PRAGMA synchronous=%s" % sync)
            return c
        pool._create_connection = create
        for c in list(getattr(pool, "_pool", [])):
            c._sqlite_conn.execute("PRAGMA synchronous=%s" % sync)
    return school, path


def pragmas(school):
    ds = getattr(school.recorder, "datastore", None)
    if ds is None:
        return {}
    out = {}
    for writer in (True, False):
        with ds.get_connection(commit=writer) as conn:
            c = conn._sqlite_conn
            out["writer" if writer else "reader"] = {
                k: c.execute("PRAGMA %s" % k).fetchone()[0]
                for k in ("journal_mode", "synchronous", "secure_delete",
                          "foreign_keys", "busy_timeout", "cache_size",
                          "wal_autocheckpoint", "page_size")}
    import sqlite3
    out["sqlite_version"] = sqlite3.sqlite_version
    return out


def phase(name, unit, per_op, ops, fn):
    wall0, cpu0 = time.perf_counter_ns(), time.process_time_ns()
    for _ in range(ops):
        fn()
    wall = (time.perf_counter_ns() - wall0) / ops
    cpu = (time.process_time_ns() - cpu0) / ops
    res = {"bench": name, "ops": ops, "ns_op": wall, "cpu_ns_op": cpu,
           unit + "_per_op": per_op, unit + "_per_s": per_op * 1e9 / wall}
    print(json.dumps(res), flush=True)
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--store", choices=["memory", "sqlite"], required=True)
    ap.add_argument("--dogs", type=int, default=1000)
    ap.add_argument("--ops", type=int, default=3)  # = go -benchtime 3x
    ap.add_argument("--sync", default="", help="override PRAGMA synchronous (e.g. NORMAL)")
    ap.add_argument("--phases", default="commands,gets")
    ap.add_argument("--tag", default="")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="pyds-", dir=os.environ.get("TMPDIR", "/tmp"))
    label = "%s%s/dogs=%d" % (a.store, ("-sync=" + a.sync.lower()) if a.sync else "", a.dogs)
    try:
        if "commands" in a.phases:
            school, _ = make_school(a.store, tmp, a.sync)
            phase("py/%s/commands%s" % (label, a.tag), "commands", a.dogs * 11, a.ops,
                  lambda: teach(school, a.dogs))
            if a.store == "sqlite":
                print(json.dumps({"pragmas": pragmas(school)}), flush=True)
            school.close()
        if "gets" in a.phases:
            school, _ = make_school(a.store, tmp, a.sync)
            ids = teach(school, a.dogs)
            phase("py/%s/gets%s" % (label, a.tag), "gets", a.dogs, a.ops,
                  lambda: get_all(school, ids))
            school.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
