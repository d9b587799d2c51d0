# The bootstrap: sent as `python3 -I -S -c` with the bundle's sha256 and size as arguments. It
# keeps the agent bundle in a root-only cache, checks its hash before every run, receives it over
# the same channel when missing or tampered (never runs a file whose hash differs), then becomes
# the agent (same interpreter), which reads the request from the same stdin. Python 3.9
# compatible, reads stdin with os.read so no byte meant for the agent is swallowed.
# -I (isolated: no current directory or script directory on sys.path, no PYTHON* variables, no
# user site) and -S (no site module, so no .pth file and no sitecustomize) mean nothing of the
# login user's (their home is sshd's and sudo's working directory) is imported as root: only
# the standard library, then the verified bundle. The working directory is / from here on.
# Mode "ro" (drift, facts, labs) writes nothing on the host: a bundle that is not cached
# already is received and run from memory, and nothing is compiled to disk.
import os, sys
os.chdir("/")
import hashlib, stat, time
os.environ["NSPROV_T0"] = repr(time.time())
# the SSH connection as the host sees it (client address and port, host address and port),
# expanded by the login shell before sudo drops it: the agent refuses tasks that would cut it
os.environ["NSPROV_SSH_CONNECTION"] = sys.argv[5] if len(sys.argv) > 5 else ""
read_only = len(sys.argv) > 4 and sys.argv[4] == "ro"
def fail(msg):
    os.write(1, ("NSPROV-ERROR " + msg + "\n").encode())
    sys.exit(3)
sha, size = sys.argv[1], int(sys.argv[2])
if sys.version_info < (3, 9):
    fail("python %s is too old: the nsprov agent needs 3.9 or newer" % sys.version.split()[0])
cache = sys.argv[3]
for d in (os.path.dirname(cache), cache):
    try:
        if read_only:
            raise FileExistsError
        os.mkdir(d, 0o700)
    except FileExistsError:
        pass
    try:
        st = os.lstat(d)
    except FileNotFoundError:
        break    # read-only and never made: nothing cached to trust or to check
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o077:
        fail("refusing %s: it must be a directory owned by uid %d with mode 0700" % (d, os.geteuid()))
path = os.path.join(cache, sha + ".pyz")
def digest(p):
    h = hashlib.sha256()
    with open(p, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
try:
    have = digest(path) == sha
except OSError:
    have = False
received = None
if have:
    os.write(1, b"NSPROV-HAVE\n")
else:
    os.write(1, b"NSPROV-NEED\n")
    buf = bytearray()
    while len(buf) < size:
        chunk = os.read(0, min(1 << 20, size - len(buf)))
        if not chunk:
            fail("bundle upload cut short after %d of %d bytes" % (len(buf), size))
        buf += chunk
    if hashlib.sha256(buf).hexdigest() != sha:
        fail("uploaded bundle does not match its sha256; nothing was run")
    received = bytes(buf)
if received is not None and not read_only:
    buf = received
    tmp = "%s.%d.tmp" % (path, os.getpid())
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        view = memoryview(buf)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    for old in os.listdir(cache):
        if not old.startswith(sha + ".") and (".pyz" in old or old.endswith(".tmp") or ".pyc.zip" in old
                                              or ".code" in old):
            try:
                os.unlink(os.path.join(cache, old))
            except OSError:
                pass
# Python cannot cache bytecode for modules it imports from a zip, and its zip importer is
# written in Python (a few hundred microseconds a module). So this host's Python compiles the
# verified bundle once into a companion: one marshalled table {module: (is package, code)},
# its hash kept beside it and checked like the bundle's. The agent's modules are then served
# from that table: one read, one unmarshal, no compiling and no zip (35 -> 2x ms of imports).
def compiled(path, received):
    import marshal
    table = path[:-4] + "." + (sys.implementation.cache_tag or "nocache") + ".code"
    try:
        if received is not None:
            raise OSError
        with open(table, "rb") as f:
            data = f.read()
        with open(table + ".sha256") as f:
            if hashlib.sha256(data).hexdigest() == f.read().strip():
                return marshal.loads(data)
    except (OSError, ValueError, EOFError):
        pass
    import zipfile   # only to make the table: importing it costs ~10 ms of every run
    codes = {}
    source = path
    if received is not None:
        import io
        source = io.BytesIO(received)
    with zipfile.ZipFile(source) as src:
        for name in src.namelist():
            if name.endswith(".py") and name.startswith("nsprov/"):
                module = name[:-3].replace("/", ".")
                package = module.endswith(".__init__")
                module = module[:-len(".__init__")] if package else module
                codes[module] = (package, compile(src.read(name), path + "/" + name, "exec", dont_inherit=True))
    if read_only:
        return codes
    data = marshal.dumps(codes)
    tmp = "%s.%d.tmp" % (table, os.getpid())
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, table)
    with open(table + ".sha256.tmp", "w") as f:
        f.write(hashlib.sha256(data).hexdigest())
    os.replace(table + ".sha256.tmp", table + ".sha256")
    return codes
class Compiled:
    """Serves the agent's modules from the compiled table (a meta path finder and loader)."""
    def __init__(self, codes, path):
        self.codes, self.path = codes, path
    def find_spec(self, name, target_path=None, target=None):
        if name not in self.codes:
            return None
        from importlib.machinery import ModuleSpec
        package = self.codes[name][0]
        spec = ModuleSpec(name, self, origin=self.path + "/" + name.replace(".", "/") + (
            "/__init__.py" if package else ".py"), is_package=package)
        if package:
            spec.submodule_search_locations = []
        spec.has_location = True
        return spec
    def create_module(self, spec):
        return None
    def exec_module(self, module):
        exec(self.codes[module.__name__][1], module.__dict__)
try:
    sys.meta_path.insert(0, Compiled(compiled(path, received), path))
except Exception:
    if received is not None and read_only:
        fail("could not load the agent bundle from memory")
    # no companion: run from the sources in the bundle, just slower
# become the agent in this same interpreter (started with -I -S): one Python start-up, not two
sys.argv = [path]
sys.path.insert(1, path)
from nsprov.agent.__main__ import main
sys.exit(main())
