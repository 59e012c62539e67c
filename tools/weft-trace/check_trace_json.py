#!/usr/bin/env python3
"""Check a Chrome Trace Event Format JSON file against Perfetto's JSON importer.

No Perfetto trace processor is packaged for Debian, so the test suite uses this
script in its place.  It models what Perfetto's trace processor does with a
JSON trace, step by step:

  1. format detection (the importer's sniffer),
  2. the tokenizer, which reads each event's fields and drops or aborts on
     malformed ones,
  3. the sorter, which reorders events by timestamp (with a tie rule that
     depends on the phase once an "X" event has been seen),
  4. the parser, slice tracker and flow tracker, which build slices, flows,
     counters and names, and drop, truncate or re-home what does not fit.

Whatever Perfetto would reject, drop, silently reinterpret or misplace is
reported as an error, so a file that passes loads in ui.perfetto.dev the way
its producer meant it to.  Behaviour was taken from google/perfetto at commit
ec5d16b14b743ba6063d720956d6d6af6610fd72 (src/trace_processor/importers/json/,
importers/common/slice_tracker.cc, flow_tracker.cc, sorter/trace_sorter.h).

Usage: check_trace_json.py [--strict] FILE      (FILE may be "-" for stdin)

--strict allows only what weft emits: phases M X i C s f, JSON numbers (not
strings) for ts/dur, JSON integers for pid/tid, and the metadata names
process_name, thread_name, process_sort_index, thread_sort_index and
process_labels.

Exit status: 0 and one "ok: ..." line when the trace is clean; 1 and one line
per error otherwise (the first 50, then a count); 2 on a usage error.
Warnings (precision loss, fields Perfetto ignores) go to stderr and do not
change the exit status.
"""

import argparse
import bisect
import json
import math
import re
import sys
from decimal import Decimal, ROUND_HALF_UP

PERFETTO_COMMIT = "ec5d16b14b743ba6063d720956d6d6af6610fd72"

I64_MIN = -(1 << 63)
I64_MAX = (1 << 63) - 1
U32_MAX = (1 << 32) - 1
I32_MIN = -(1 << 31)
I32_MAX = (1 << 31) - 1
U64_MAX = (1 << 64) - 1
MAX_DEPTH = 512          # SliceTracker::kMaxDepth
SNIFF_BYTES = 128        # kGuessTraceMaxLookahead
MAX_ERRORS = 50

# Phases the JSON tokenizer/parser act on.  Any other phase is tokenized and
# sorted, then silently ignored by JsonTraceParser::ParseJsonPacket.
HANDLED_PHASES = set("BEXbenCiIRstfTMP")
WEFT_PHASES = set("MXiCsf")
METADATA_USED = ("process_name", "thread_name",
                 "process_sort_index", "thread_sort_index")
WEFT_METADATA = set(METADATA_USED) | {"process_labels"}
THREAD_TRACK_PHASES = set("BEXsftT")   # plus thread-scoped instants

JSON_NUMBER_RE = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?\Z")
HEX_ID_RE = re.compile(r"(?:0[xX])?([0-9a-fA-F]+)\Z")
DECIMAL_RE = re.compile(r"[ \t\n\r\f\v]*[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\Z")
SURROGATE_ESCAPE_RE = re.compile(r"(?<!\\)(?:\\\\)*\\u[dD][89abAB][0-9a-fA-F]{2}")
SNIFF_SPACE = b" \t\n\v\f\r"


# ---------------------------------------------------------------- JSON loading

class JFloat(float):
    """A float that remembers the literal it was parsed from."""
    __slots__ = ("lit",)


class JObj(dict):
    """A dict that remembers which keys appeared more than once."""
    __slots__ = ("dups",)


def _make_float(text):
    value = JFloat(text)
    value.lit = text
    return value


def _make_object(pairs):
    obj = JObj()
    obj.dups = []
    for key, value in pairs:
        if key in obj and key not in obj.dups:
            obj.dups.append(key)
        obj[key] = value
    return obj


def _reject_constant(name):
    raise ValueError("%s is not valid JSON (Perfetto's parser rejects it)" % name)


def load_json(text):
    return json.loads(text, parse_float=_make_float,
                      object_pairs_hook=_make_object,
                      parse_constant=_reject_constant)


# ------------------------------------------------------------- number handling

def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def type_name(v):
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if is_int(v) or isinstance(v, float):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    return "object"


def as_perfetto_number(v):
    """How json_parser.h's ParseNumber stores a JSON number.

    Returns ("int", value) for integers that fit int64, ("double", value, text)
    otherwise, or None for non-numbers.
    """
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        if I64_MIN <= v <= I64_MAX:
            return ("int", v)
        return ("double", float(v), str(v))
    if isinstance(v, float):
        return ("double", float(v), getattr(v, "lit", repr(v)))
    return None


def llround(x):
    return int(Decimal(x).to_integral_value(rounding=ROUND_HALF_UP))


def fmt_us(ns):
    """Nanoseconds as an exact microsecond string."""
    sign = "-" if ns < 0 else ""
    ns = abs(ns)
    whole, frac = divmod(ns, 1000)
    if frac == 0:
        return "%s%d" % (sign, whole)
    return ("%s%d.%03d" % (sign, whole, frac)).rstrip("0")


def coerce_time(v):
    """Mirror of CoerceToTs in json_trace_tokenizer.cc.

    Returns (ns, error, warning, was_string).  ns is None when Perfetto fails to
    convert the value.
    """
    was_string = isinstance(v, str)
    if was_string:
        if not JSON_NUMBER_RE.match(v):
            return None, "string %s is not a JSON number" % json.dumps(v), None, True
        if any(c in v for c in ".eE"):
            num = ("double", float(v), v)
        else:
            iv = int(v)
            num = ("int", iv) if I64_MIN <= iv <= I64_MAX else ("double", float(v), v)
    else:
        num = as_perfetto_number(v)
        if num is None:
            return None, "expected a number, got %s" % type_name(v), None, False
    if num[0] == "int":
        ns = num[1] * 1000
        exact = Decimal(num[1]) * 1000
        text = str(num[1])
    else:
        f, text = num[1], num[2]
        if not math.isfinite(f):
            return None, "%s is not finite as a double" % text, None, was_string
        if f == math.trunc(f):
            whole = int(f)
            if not I64_MIN <= whole <= I64_MAX:
                return None, "%s is outside the int64 range" % text, None, was_string
            ns = whole * 1000
        else:
            scaled = f * 1000.0
            if not math.isfinite(scaled) or not I64_MIN <= scaled <= I64_MAX:
                return None, "%s us overflows int64 nanoseconds" % text, None, was_string
            ns = llround(scaled)
        exact = Decimal(text) * 1000
    if not I64_MIN <= ns <= I64_MAX:
        return None, "%s us overflows int64 nanoseconds" % text, None, was_string
    warning = None
    if exact != exact.to_integral_value():
        warning = ("%s us has sub-nanosecond digits; Perfetto rounds it to %s us"
                   % (text, fmt_us(ns)))
    elif int(exact) != ns:
        warning = ("%s us is not representable as a double; Perfetto reads it as %s us"
                   % (text, fmt_us(ns)))
    return ns, None, warning, was_string


def wrap_i64(x):
    return ((x - I64_MIN) % (1 << 64)) + I64_MIN


# ----------------------------------------------------------------- reporting

class Report:
    def __init__(self):
        self.errors = []
        self.warnings = []

    def error(self, msg):
        self.errors.append(msg)

    def warn(self, msg):
        self.warnings.append(msg)


class Ev:
    """One event after tokenization (the fields of Perfetto's JsonEvent)."""

    def __init__(self, idx, raw):
        self.idx = idx
        self.raw = raw
        self.ph = None
        self.phase = None
        self.ts = None
        self.dur = None          # None: absent (Perfetto: INT64_MAX)
        self.pid = 0
        self.tid = 0
        self.pid_exists = False
        self.tid_exists = False
        self.pid_str = False
        self.name = None         # None: null name
        self.cat = None
        self.id = None           # ("str", s) or ("int", u64)
        self.bind_id = None
        self.flow_in = False
        self.flow_out = False
        self.scope = None        # None, "g", "p", "t"
        self.bp_e = False
        self.args = None         # the args object, if it is an object
        self.id2_local = None
        self.id2_global = None
        self.seq = 0

    def label(self):
        parts = []
        if self.ph is not None:
            parts.append("ph %s" % json.dumps(self.ph))
        if self.name is not None:
            parts.append("name %s" % json.dumps(self.name))
        if self.ts is not None:
            parts.append("ts %s" % fmt_us(self.ts))
        return "event %d (%s)" % (self.idx, ", ".join(parts)) if parts else "event %d" % self.idx

    def pid_key(self):
        return ("s:" if self.pid_str else "") + str(self.pid)

    def tid_key(self):
        return ("s:" if self.tid_is_string() else "") + str(self.tid)

    def tid_is_string(self):
        return isinstance(self.tid, str)

    def thread_key(self):
        return ("thread", self.pid_key(), self.tid_key())

    def thread(self):
        return "pid %s tid %s" % (self.pid_key(), self.tid_key())


def short(ev):
    name = json.dumps(ev.name) if ev.name is not None else "[No name]"
    return "%s (event %d, ts %s)" % (name, ev.idx, fmt_us(ev.ts))


# --------------------------------------------------------------- the checker

class Checker:
    def __init__(self, strict):
        self.strict = strict
        self.rep = Report()
        # Output counters.
        self.n_events = 0
        self.slice_tracks = set()
        self.n_flows = 0
        self.counter_series = set()
        # Slice tracker state: track key -> Track.
        self.tracks = {}
        # Flow tracker state.
        self.flow_source = {}      # flow key -> (Slice, event that set it)
        self.pending_flows = {}    # track key -> [(flow key, event)]
        self.used_v1 = None
        self.used_v2 = None
        # (thread track, ts) of every B, for hints about the E-before-B tie rule.
        self.begins_at = set()
        self.slow_sorting = False
        self.string_pids = False
        self.numeric_pids = False
        self.mixed_flows_reported = False

    # -- helpers ------------------------------------------------------------

    def err(self, ev_or_idx, field, msg):
        if isinstance(ev_or_idx, Ev):
            where = ev_or_idx.label()
        else:
            where = "event %d" % ev_or_idx
        if field:
            self.rep.error('%s field "%s": %s' % (where, field, msg))
        else:
            self.rep.error("%s: %s" % (where, msg))

    def warn(self, ev, field, msg):
        where = ev.label() if isinstance(ev, Ev) else "event %d" % ev
        if field:
            self.rep.warn('%s field "%s": %s' % (where, field, msg))
        else:
            self.rep.warn("%s: %s" % (where, msg))

    # -- file level -------------------------------------------------------------

    def check_bytes(self, data):
        if data.startswith(b"\xef\xbb\xbf"):
            self.rep.error("file starts with a UTF-8 byte order mark; Perfetto does "
                           "not recognise it as a JSON trace")
            data = data[3:]
        head = bytes(b for b in data[:SNIFF_BYTES] if b not in SNIFF_SPACE)
        if not (head.startswith(b'{"') or head.startswith(b'[{"')):
            self.rep.error('file does not start with {" or [{" (whitespace ignored); '
                           "Perfetto's JSON sniffer (JsonImporter::Sniff) will not "
                           "pick it")
        for prefix, who in ((b'{"meta"', "the Firefox profiler (gecko) importer"),
                            (b'{"libs"', "the Firefox profiler (gecko) importer"),
                            (b'{"perfetto_manifest"', "the perfetto manifest reader")):
            if head.startswith(prefix):
                self.rep.error("the first top-level key is %s, so Perfetto hands the "
                               "file to %s instead of the JSON importer"
                               % (prefix[1:].decode(), who))
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            self.rep.error("file is not valid UTF-8 (byte offset %d)" % e.start)
            return
        m = SURROGATE_ESCAPE_RE.search(text)
        if m:
            line = text.count("\n", 0, m.start()) + 1
            self.rep.error("line %d: %s escapes a UTF-16 surrogate; Perfetto's JSON "
                           "parser rejects surrogate escapes and aborts the import"
                           % (line, m.group(0).lstrip("\\")[-6:]))
        try:
            top = load_json(text)
        except ValueError as e:
            self.rep.error("not valid JSON: %s" % e)
            return
        self.check_top(top)

    def check_top(self, top):
        if isinstance(top, list):
            events = top
        elif isinstance(top, dict):
            for key in top.dups:
                self.rep.error('top-level key "%s" appears more than once' % key)
            if "traceEvents" not in top:
                self.rep.error('top-level object has no "traceEvents" array')
                events = []
            else:
                events = top["traceEvents"]
                if not isinstance(events, list):
                    self.rep.error('"traceEvents" is %s, not an array; Perfetto '
                                   'aborts the import' % type_name(events))
                    events = []
            if "displayTimeUnit" in top:
                unit = top["displayTimeUnit"]
                if not isinstance(unit, str):
                    self.rep.error('"displayTimeUnit" is %s; Perfetto aborts the '
                                   "import unless it is a string" % type_name(unit))
                elif unit not in ("ms", "ns"):
                    self.rep.error('"displayTimeUnit" is %s; the format allows only '
                                   '"ms" or "ns"' % json.dumps(unit))
            if "systemTraceEvents" in top and not isinstance(top["systemTraceEvents"], str):
                self.rep.error('"systemTraceEvents" is %s; Perfetto aborts the import '
                               "unless it is a string"
                               % type_name(top["systemTraceEvents"]))
        else:
            self.rep.error("top level is %s; it must be an object with "
                           '"traceEvents" or an array of events' % type_name(top))
            return
        self.n_events = len(events)
        pushed = []
        for idx, raw in enumerate(events):
            ev = self.tokenize(idx, raw)
            if ev is not None:
                ev.seq = len(pushed)
                pushed.append(ev)
        if self.string_pids and self.numeric_pids:
            self.rep.warn("both string and integer pids/tids are used; Perfetto maps "
                          "a string to its string-pool id, which can collide with a "
                          "numeric pid/tid")
        for ev in pushed:
            if ev.phase == "B":
                self.begins_at.add((ev.thread_key(), ev.ts))
        for ev in self.sort_like_perfetto(pushed):
            self.parse(ev)
        self.finish()

    # -- tokenizer (JsonTraceTokenizer::ParseTraceEventContents) -----------

    def check_dups(self, idx, obj, path):
        if isinstance(obj, JObj):
            for key in obj.dups:
                self.err(idx, path + key if path else key,
                         "key appears more than once in the object")
            for key, value in obj.items():
                self.check_dups(idx, value, "%s%s." % (path, key))
        elif isinstance(obj, list):
            for n, value in enumerate(obj):
                self.check_dups(idx, value, "%s%d." % (path, n))

    def tokenize(self, idx, raw):
        if not isinstance(raw, dict):
            self.err(idx, None, "is %s, not an object; Perfetto aborts the whole import"
                     % type_name(raw))
            return None
        if not raw:
            return None  # "{}" is skipped without complaint by Perfetto
        self.check_dups(idx, raw, "")
        ev = Ev(idx, raw)

        # Name first so that the messages below can show it.
        if "name" in raw:
            name = raw["name"]
            if isinstance(name, str) and name:
                ev.name = name
        ph = raw.get("ph")
        if isinstance(ph, str) and ph:
            ev.ph = ph[0]

        if "ph" not in raw:
            self.err(ev, "ph", "missing; Perfetto drops the event")
            return None
        if not isinstance(ph, str):
            self.err(ev, "ph", "is %s, not a string; Perfetto drops the event"
                     % type_name(ph))
            return None
        if not ph:
            self.err(ev, "ph", "is empty; Perfetto drops the event")
            return None
        if len(ph) != 1:
            self.err(ev, "ph", "%s has more than one character; Perfetto uses only "
                     "the first (%s)" % (json.dumps(ph), json.dumps(ph[0])))
        phase = ev.phase = ev.ph
        if phase not in HANDLED_PHASES:
            self.err(ev, "ph", "phase %s is ignored by Perfetto's JSON importer"
                     % json.dumps(phase))
        elif self.strict and phase not in WEFT_PHASES:
            self.err(ev, "ph", "phase %s is not one weft emits (--strict allows %s)"
                     % (json.dumps(phase), " ".join(sorted(WEFT_PHASES))))

        fatal = False

        # name / cat
        if "name" in raw:
            name = raw["name"]
            if not isinstance(name, str):
                self.err(ev, "name", "is %s, not a string; Perfetto treats it as "
                         "absent" % type_name(name))
            elif not name and phase not in "Ee":
                self.err(ev, "name", "is empty; Perfetto treats it as absent")
        elif phase not in "Ee" and phase in HANDLED_PHASES:
            self.err(ev, "name", "missing%s" % (
                '; the slice is shown as "[No name]"' if phase in "BXiIRb" else ""))
        if "cat" in raw:
            cat = raw["cat"]
            if isinstance(cat, str):
                ev.cat = cat or None
            else:
                self.err(ev, "cat", "is %s, not a string; Perfetto treats it as "
                         "absent" % type_name(cat))

        # ts
        ts_ok = False
        if "ts" in raw:
            ns, problem, warning, was_string = coerce_time(raw["ts"])
            if problem:
                if phase == "M":
                    self.warn(ev, "ts", "%s; Perfetto uses 0 for metadata" % problem)
                    ev.ts, ts_ok = 0, True
                else:
                    self.err(ev, "ts", "%s; Perfetto drops the event" % problem)
            else:
                ev.ts, ts_ok = ns, True
                if warning:
                    self.warn(ev, "ts", warning)
                if was_string and self.strict:
                    self.err(ev, "ts", "is a string; --strict wants a JSON number")
        elif phase == "M":
            ev.ts, ts_ok = 0, True
        else:
            self.err(ev, "ts", "missing; Perfetto drops the event")

        # dur, tts, tdur: a bad value stops Perfetto's tokenizer for good.
        for field in ("dur", "tts", "tdur"):
            if field not in raw:
                continue
            ns, problem, warning, was_string = coerce_time(raw[field])
            if problem:
                self.err(ev, field, "%s; Perfetto stops reading the trace at this "
                         "event (the rest of the file is lost)" % problem)
                fatal = True
                continue
            if warning:
                self.warn(ev, field, warning)
            if was_string and self.strict:
                self.err(ev, field, "is a string; --strict wants a JSON number")
            if field == "dur":
                ev.dur = ns
        if phase in "XT" and "dur" not in raw:
            self.err(ev, "dur", "missing; Perfetto drops %s events without dur"
                     % json.dumps(phase))

        # pid / tid
        for field in ("pid", "tid"):
            if field not in raw:
                continue
            value = raw[field]
            if isinstance(value, str):
                setattr(ev, field + "_exists", True)
                setattr(ev, field, value)
                if field == "pid":
                    ev.pid_str = True
                self.string_pids = True
                if self.strict:
                    self.err(ev, field, "is a string; --strict wants an integer")
                continue
            num = as_perfetto_number(value)
            if num is None:
                self.err(ev, field, "is %s; Perfetto ignores it (as if absent)"
                         % type_name(value))
                continue
            setattr(ev, field + "_exists", True)
            self.numeric_pids = True
            whole = num[1] if num[0] == "int" else math.trunc(num[1]) \
                if math.isfinite(num[1]) else -1
            if num[0] == "double" and num[1] != whole:
                self.err(ev, field, "%s is not an integer; Perfetto truncates it"
                         % num[2])
            elif num[0] == "double" and self.strict:
                self.err(ev, field, "%s is written as a fraction; --strict wants an "
                         "integer" % num[2])
            if not 0 <= whole <= U32_MAX:
                self.err(ev, field, "%s is outside 0..%d; Perfetto replaces it with 0"
                         % (value, U32_MAX))
                whole = 0
            setattr(ev, field, whole)
        if not ev.pid_exists and not (phase in "iIR" and raw.get("s") == "g"):
            self.err(ev, "pid", "missing; Perfetto uses pid 0")
        if ev.tid_exists and not ev.tid_is_string() and ev.tid == 0 and ev.pid != 0:
            self.err(ev, "tid", "is 0 with pid %s; Perfetto replaces tid 0 with the "
                     "pid" % ev.pid_key())
        needs_tid = phase in THREAD_TRACK_PHASES or (
            phase in "iIR" and raw.get("s") not in ("g", "p")) or (
            phase == "M" and raw.get("name") in ("thread_name", "thread_sort_index"))
        if needs_tid and not ev.tid_exists:
            if phase in "iIR":
                self.err(ev, "tid", "missing; Perfetto drops thread-scoped instants "
                         "without a tid")
            else:
                self.err(ev, "tid", "missing; Perfetto puts the event on the thread "
                         "whose tid equals the pid")
        if ev.tid == 0 and ev.pid != 0 and not ev.tid_is_string():
            ev.tid = ev.pid

        # id, bind_id, id2
        for field in ("id", "bind_id"):
            if field not in raw:
                continue
            value = raw[field]
            if isinstance(value, str):
                extracted = ("str", value)
            elif is_int(value) and I64_MIN <= value <= I64_MAX:
                extracted = ("int", value & U64_MAX)
            else:
                self.err(ev, field, "is %s; Perfetto only takes a string or an int64 "
                         "and ignores it" % ("a fractional or huge number"
                                             if type_name(value) == "number"
                                             else type_name(value)))
                continue
            setattr(ev, field, extracted)
        if "id2" in raw:
            id2 = raw["id2"]
            if not isinstance(id2, dict):
                self.err(ev, "id2", "is %s; Perfetto ignores it" % type_name(id2))
            else:
                for sub in ("local", "global"):
                    if sub in id2:
                        value = id2[sub]
                        if isinstance(value, str) or (is_int(value) and I64_MIN <= value <= I64_MAX):
                            setattr(ev, "id2_" + sub, value)
                        else:
                            self.err(ev, "id2." + sub, "is %s; Perfetto ignores it"
                                     % type_name(value))
                unknown = [k for k in id2 if k not in ("local", "global")]
                if unknown:
                    self.err(ev, "id2", "has keys %s; Perfetto reads only local and "
                             "global" % ", ".join(unknown))

        for field in ("flow_in", "flow_out"):
            if field in raw:
                if isinstance(raw[field], bool):
                    setattr(ev, field, raw[field])
                else:
                    self.err(ev, field, "is %s, not a boolean; Perfetto ignores it"
                             % type_name(raw[field]))

        if "s" in raw and phase in "iIR":
            scope = raw["s"]
            if scope in ("g", "p", "t"):
                ev.scope = scope
            else:
                self.err(ev, "s", "is %s; only \"g\", \"p\" or \"t\" are meaningful "
                         "(Perfetto puts anything else on the thread track)"
                         % json.dumps(scope))
        if "bp" in raw:
            if raw["bp"] == "e":
                ev.bp_e = True
            else:
                self.err(ev, "bp", "is %s; the only binding point is \"e\" (absent "
                         "means the next slice)" % json.dumps(raw["bp"]))

        if "args" in raw:
            if isinstance(raw["args"], dict):
                ev.args = raw["args"]
            else:
                self.err(ev, "args", "is %s, not an object; Perfetto ignores it"
                         % type_name(raw["args"]))

        if fatal or not ts_ok:
            return None
        if phase == "P":
            self.warn(ev, None, "V8 CPU profile samples (ph \"P\") are not checked")
            return None
        if ev.ts < 0:
            self.err(ev, "ts", "is negative; Perfetto's sorter drops events before 0")
            return None
        return ev

    # -- sorter (TraceSorter::Queue::Append, Queue::Sort) ------------------

    def sort_like_perfetto(self, pushed):
        """Order events exactly as Perfetto's TraceSorter hands them to the parser.

        Events appended in non-decreasing ts order stay in file order, except
        that once an "X" event has been pushed an equal ts counts as out of
        order.  At the end the out-of-order tail (from the smallest out-of-order
        ts) is sorted by (ts, phase key, push order), or by (ts, push order) if
        no X was ever pushed.  The phase key puts E first, then X by decreasing
        dur, then everything else.
        """
        max_ts = 0
        sort_start = 0
        sort_min_ts = I64_MAX
        slow = False
        for n, ev in enumerate(pushed):
            if ev.phase == "X":
                slow = True
            if ev.ts > max_ts or (not slow and ev.ts == max_ts):
                max_ts = ev.ts
            elif sort_start == 0:
                sort_start = n
                sort_min_ts = ev.ts
            else:
                sort_min_ts = min(sort_min_ts, ev.ts)
        self.slow_sorting = slow
        order = list(pushed)
        if sort_start != 0:
            prefix = [ev.ts for ev in order[:sort_start]]
            begin = bisect.bisect_left(prefix, sort_min_ts)

            def phase_key(ev):
                if ev.phase == "E":
                    return I64_MIN
                if ev.phase == "X":
                    return wrap_i64(I64_MAX - (ev.dur if ev.dur is not None else I64_MAX))
                return I64_MAX

            if slow:
                order[begin:] = sorted(order[begin:],
                                       key=lambda ev: (ev.ts, phase_key(ev), ev.seq))
            else:
                order[begin:] = sorted(order[begin:], key=lambda ev: (ev.ts, ev.seq))
        return order

    # -- slice tracker (SliceTracker) --------------------------------------

    def maybe_close_stack(self, track, ev, new_ts, new_dur):
        """SliceTracker::MaybeCloseStack.  new_dur None means a pending (B) slice.

        Returns the slice the new one partially overlaps, or None.
        """
        stack = track.stack
        incomplete_descendant = False
        i = len(stack) - 1
        while i >= 0:
            s = stack[i]
            if s.dur is None:
                incomplete_descendant = True
                i -= 1
                continue
            end = s.ts + s.dur
            if incomplete_descendant:
                if new_ts <= end:
                    i -= 1
                    continue
                victims = stack[i + 1:]
                for child in victims:
                    child.dur = end - child.ts
                self.err(ev, None, "on %s: slice %s was begun (B) inside complete "
                         "slice %s but is still open after it ends at %s; Perfetto "
                         "truncates it to that end (misplaced_end_event)"
                         % (track.desc, ", ".join(short(c.ev) for c in victims),
                            short(s.ev), fmt_us(end)))
                del stack[i:]
                incomplete_descendant = False
                i -= 1
                continue
            if end < new_ts or (end == new_ts and not (s.dur == 0 and new_dur == 0)):
                stack.pop()
                i -= 1
                continue
            if new_dur is None:
                i -= 1
                continue
            if new_ts < end and new_ts + new_dur > end:
                return s
            i -= 1
        return None

    def start_slice(self, key, desc, ev, dur):
        track = self.tracks.get(key)
        if track is None:
            track = self.tracks[key] = Track(key, desc)
        conflict = self.maybe_close_stack(track, ev, ev.ts, dur)
        if conflict is not None:
            return None, conflict
        if len(track.stack) >= MAX_DEPTH:
            self.err(ev, None, "on %s: nesting depth would exceed %d; Perfetto drops "
                     "the slice" % (desc, MAX_DEPTH))
            return None, None
        s = Slice(ev, dur)
        track.stack.append(s)
        track.last_started = s
        self.slice_tracks.add(key)
        self.close_pending_flows(key, s)
        return s, None

    def end_slice(self, key, ev):
        track = self.tracks.get(key)
        hint = ""
        if self.slow_sorting and (key, ev.ts) in self.begins_at:
            hint = ("; note the B at the same ts: once a trace has X events, "
                    "Perfetto orders E before every other phase at equal ts")
        if track is None:
            self.err(ev, "ph", "E/e with no open slice on %s; Perfetto ignores it%s"
                     % (self.track_desc(key, ev), hint))
            return None
        self.maybe_close_stack(track, ev, ev.ts, None)
        match = None
        for n in range(len(track.stack) - 1, -1, -1):
            s = track.stack[n]
            if s.dur is not None:
                continue
            if ev.cat is not None and s.ev.cat != ev.cat:
                continue
            if ev.name is not None and s.name != ev.name:
                continue
            match = n
            break
        if match is None:
            what = "no open B" if not any(s.dur is None for s in track.stack) else \
                "no open B with matching name/cat"
            self.err(ev, "ph", "end on %s has %s; Perfetto ignores it%s"
                     % (track.desc, what, hint))
            return None
        s = track.stack[match]
        s.dur = ev.ts - s.ts
        if match != len(track.stack) - 1:
            inner = ["%s %s" % (short(t.ev), "still open" if t.dur is None else
                                "running until %s" % fmt_us(t.ts + t.dur))
                     for t in track.stack[match + 1:]]
            self.err(ev, None, "end closes %s, but inside it %s; slices must nest, "
                     "and Perfetto leaves the inner one hanging over the end"
                     % (short(s.ev), ", ".join(inner)))
        else:
            track.stack.pop()
        return s

    def track_desc(self, key, ev):
        kind = key[0]
        if kind == "thread":
            return "thread track (%s)" % ev.thread()
        if kind == "process":
            return "process instant track (pid %s)" % ev.pid_key()
        if kind == "global":
            return "global instant track"
        return "async track (pid %s, id %s)" % (ev.pid_key(), key[2])

    def top_slice(self, key):
        track = self.tracks.get(key)
        if track is None or not track.stack:
            return None
        return track.stack[-1]

    # -- flow tracker (FlowTracker) -------------------------------------------

    def v1_flow_key(self, ev):
        """MaybeExtractFlowIdentifier + GetFlowIdForV1Event."""
        if ev.id is None:
            self.err(ev, "id", "missing or unusable; Perfetto drops the flow event "
                     "(flow_invalid_id)")
            return None
        if ev.id[0] == "int":
            value = ev.id[1]
        else:
            m = HEX_ID_RE.match(ev.id[1])
            if not m:
                self.err(ev, "id", "%s is not a hexadecimal number; Perfetto parses "
                         "string flow ids as hex and drops this flow event"
                         % json.dumps(ev.id[1]))
                return None
            value = int(m.group(1), 16)
            if value > U64_MAX:
                self.err(ev, "id", "%s does not fit in 64 bits" % json.dumps(ev.id[1]))
                return None
        return ("v1", value, ev.cat, ev.name)

    def note_flow_version(self, ev, version):
        if version == "v1":
            self.used_v1 = self.used_v1 if self.used_v1 is not None else ev.idx
            other = self.used_v2
        else:
            self.used_v2 = self.used_v2 if self.used_v2 is not None else ev.idx
            other = self.used_v1
        if other is not None and not self.mixed_flows_reported:
            self.mixed_flows_reported = True
            self.err(ev, None, "mixes v1 flow events (s/t/f) with v2 flow fields "
                     "(bind_id/flow_in/flow_out, first at event %d); Perfetto numbers "
                     "v1 flows from 0 in the same id space as v2 bind_ids, so they "
                     "collide" % other)

    def check_binding(self, ev, role, s):
        if s.dur is not None and ev.ts > s.ts + s.dur:
            self.err(ev, None, "flow %s binds to %s, the innermost slice Perfetto still "
                     "holds on this thread, which ended at %s; no slice encloses the "
                     "flow event's ts (Perfetto only drops finished slices when the "
                     "next one starts)" % (role, short(s.ev), fmt_us(s.ts + s.dur)))

    def flow_begin(self, ev, key, fkey, role="start"):
        s = self.top_slice(key)
        if s is None:
            self.err(ev, None, "flow %s has no enclosing slice on %s; Perfetto drops "
                     "it (flow_no_enclosing_slice)" % (role, self.track_desc(key, ev)))
            return
        self.check_binding(ev, role, s)
        if fkey in self.flow_source:
            first = self.flow_source[fkey][1]
            self.err(ev, "id", "a flow with this id%s already started at event %d; "
                     "Perfetto ignores this start (flow_duplicate_id)"
                     % (", cat and name" if fkey[0] == "v1" else "", first.idx))
            return
        self.flow_source[fkey] = (s, ev)

    def flow_step_or_end(self, ev, key, fkey, role, advance):
        s = self.top_slice(key)
        if s is None:
            self.err(ev, None, "flow %s has no enclosing slice on %s; Perfetto drops "
                     "it (flow_no_enclosing_slice)" % (role, self.track_desc(key, ev)))
            return
        self.check_binding(ev, role, s)
        if fkey not in self.flow_source:
            self.err(ev, "id", "flow %s has no earlier flow start with the same id%s; "
                     "Perfetto drops it" % (role, ", cat and name" if fkey[0] == "v1"
                                            else ""))
            return
        src = self.flow_source[fkey][0]
        if s.ev.ts < src.ev.ts:
            self.err(ev, None, "flow %s binds to %s, which starts before the flow's "
                     "source slice %s; Perfetto draws the arrow backwards"
                     % (role, short(s.ev), short(src.ev)))
        self.n_flows += 1
        if advance:
            self.flow_source[fkey] = (s, ev)

    def flow_end_next(self, ev, key, fkey):
        if fkey not in self.flow_source:
            self.err(ev, "id", "flow end has no earlier flow start with the same id, "
                     "cat and name; Perfetto links it to a bogus source slice")
            return
        track = self.tracks.get(key)
        if track is not None and track.last_started is not None:
            prev = track.last_started
            if prev.ev.ts == ev.ts and prev.ev.idx > ev.idx:
                self.err(ev, None, "flow end binds to the next slice, but %s, written "
                         "after this event at the same ts, is sorted before it by "
                         "Perfetto; the arrow will land on a later slice (use "
                         '"bp":"e" or put the f inside the slice)' % short(prev.ev))
        self.pending_flows.setdefault(key, []).append((fkey, ev))

    def close_pending_flows(self, key, s):
        pending = self.pending_flows.pop(key, None)
        if not pending:
            return
        for fkey, ev in pending:
            self.n_flows += 1

    def maybe_add_v2_flow(self, ev, key):
        """JsonTraceParser::MaybeAddFlow."""
        if ev.bind_id is None:
            if ev.flow_in or ev.flow_out:
                self.err(ev, "bind_id", "missing, so flow_in/flow_out are ignored")
            return
        self.note_flow_version(ev, "v2")
        if ev.bind_id[0] == "int":
            value = ev.bind_id[1]
        else:
            m = HEX_ID_RE.match(ev.bind_id[1])
            if not m or int(m.group(1), 16) > U64_MAX:
                self.err(ev, "bind_id", "%s is not a 64-bit hexadecimal number; "
                         "Perfetto ignores the flow" % json.dumps(ev.bind_id[1]))
                return
            value = int(m.group(1), 16)
        fkey = ("v2", value)
        if ev.flow_in and ev.flow_out:
            self.flow_step_or_end(ev, key, fkey, "step", True)
        elif ev.flow_out:
            self.flow_begin(ev, key, fkey)
        elif ev.flow_in:
            self.flow_step_or_end(ev, key, fkey, "end", False)
        else:
            self.err(ev, "bind_id", "set without flow_in or flow_out; Perfetto drops "
                     "the flow (flow_without_direction)")

    # -- parser (JsonTraceParser::ParseJsonPacket) -------------------------

    def parse(self, ev):
        phase = ev.phase
        thread_key = ev.thread_key()
        thread_desc = "thread track (%s)" % ev.thread()
        if phase == "B":
            self.start_slice(thread_key, thread_desc, ev, None)
            self.maybe_add_v2_flow(ev, thread_key)
        elif phase == "E":
            self.end_slice(thread_key, ev)
        elif phase == "X":
            if ev.dur is None:
                return  # reported by the tokenizer
            if ev.dur < 0:
                self.err(ev, "dur", "is negative; Perfetto drops the slice "
                         "(slice_negative_duration)")
                return
            if ev.ts + ev.dur > I64_MAX:
                self.err(ev, "dur", "ts + dur overflows int64 nanoseconds")
                return
            s, conflict = self.start_slice(thread_key, thread_desc, ev, ev.dur)
            if conflict is not None:
                self.err(ev, None, "on %s: [%s, %s) starts inside %s [%s, %s) and "
                         "ends after it; Perfetto cannot nest it and moves it to an "
                         "overflow track (slice_spill_overlapping_complete_event)"
                         % (thread_desc, fmt_us(ev.ts), fmt_us(ev.ts + ev.dur),
                            short(conflict.ev), fmt_us(conflict.ts),
                            fmt_us(conflict.ts + conflict.dur)))
                self.slice_tracks.add(("overflow",) + thread_key[1:])
                return
            self.maybe_add_v2_flow(ev, thread_key)
        elif phase in "iIR":
            if ev.scope == "g":
                self.start_slice(("global",), "global instant track", ev, 0)
            elif ev.scope == "p":
                if not ev.pid_exists:
                    self.err(ev, "pid", "missing on a process-scoped instant; "
                             "Perfetto drops it")
                    return
                self.start_slice(("process", ev.pid_key()),
                                 "process instant track (pid %s)" % ev.pid_key(), ev, 0)
            else:
                if not ev.tid_exists:
                    return  # reported by the tokenizer
                self.start_slice(thread_key, thread_desc, ev, 0)
        elif phase == "C":
            self.parse_counter(ev)
        elif phase == "M":
            self.parse_metadata(ev)
        elif phase in "stf":
            self.note_flow_version(ev, "v1")
            fkey = self.v1_flow_key(ev)
            if fkey is None:
                return
            if phase == "s":
                self.flow_begin(ev, thread_key, fkey)
            elif phase == "t":
                self.flow_step_or_end(ev, thread_key, fkey, "step", True)
            elif ev.bp_e:
                self.flow_step_or_end(ev, thread_key, fkey, "end", False)
            else:
                self.flow_end_next(ev, thread_key, fkey)
        elif phase in "ben":
            self.parse_async(ev)
        # "T" (thread state) needs only dur, checked by the tokenizer.

    def parse_counter(self, ev):
        if ev.args is None:
            self.err(ev, "args", "missing; Perfetto drops counter events without args")
            return
        if not ev.args:
            self.err(ev, "args", "is empty; the counter event adds no values")
            return
        if ev.name is None:
            return  # reported by the tokenizer
        prefix = ev.name
        if ev.id is not None:
            if ev.id[0] == "str":
                prefix += " id: " + ev.id[1]
            else:
                self.err(ev, "id", "is an integer; Perfetto appends only string ids "
                         "to counter names, so series with different ids merge")
        for key, value in ev.args.items():
            if isinstance(value, str):
                if self.strict:
                    self.err(ev, "args." + key, "is a string; --strict wants a number")
                    continue
                if not DECIMAL_RE.match(value):
                    self.err(ev, "args." + key, "string %s is not a number; Perfetto "
                             "skips this value" % json.dumps(value))
                    continue
                number = float(value)
            else:
                num = as_perfetto_number(value)
                if num is None:
                    self.err(ev, "args." + key, "is %s; counter values must be "
                             "numbers and Perfetto skips this one" % type_name(value))
                    continue
                number = float(num[1])
            if not math.isfinite(number):
                self.err(ev, "args." + key, "is not finite")
                continue
            self.counter_series.add((ev.pid_key(), "%s %s" % (prefix, key)))

    def parse_metadata(self, ev):
        name = ev.raw.get("name")
        if not isinstance(name, str):
            return
        if name not in METADATA_USED:
            if name == "process_labels":
                labels = ev.args.get("labels") if ev.args is not None else None
                if not isinstance(labels, str):
                    self.err(ev, "args.labels", "process_labels needs a string "
                             "args.labels")
                else:
                    self.warn(ev, None, "process_labels is ignored by Perfetto's "
                              "JSON importer")
            elif self.strict and name not in WEFT_METADATA:
                self.err(ev, "name", "metadata %s is not one weft emits (--strict)"
                         % json.dumps(name))
            else:
                self.warn(ev, "name", "metadata %s is ignored by Perfetto"
                          % json.dumps(name))
            return
        if ev.args is None:
            self.err(ev, "args", "missing; Perfetto ignores metadata without args")
            return
        if name in ("process_name", "process_sort_index") and not ev.pid_exists:
            return  # reported by the tokenizer
        if name.endswith("_sort_index"):
            if "sort_index" not in ev.args:
                self.err(ev, "args.sort_index", "missing; Perfetto ignores the event")
                return
            value = ev.args["sort_index"]
            num = as_perfetto_number(value)
            if num is None:
                self.err(ev, "args.sort_index", "is %s; Perfetto wants a number"
                         % type_name(value))
                return
            whole = num[1] if num[0] == "int" else (
                math.trunc(num[1]) if math.isfinite(num[1]) else None)
            if num[0] == "double" and (whole is None or whole != num[1]):
                self.err(ev, "args.sort_index", "%s is not an integer; Perfetto "
                         "truncates it" % num[2])
            elif num[0] == "double" and self.strict:
                self.err(ev, "args.sort_index", "is written as a fraction; --strict "
                         "wants an integer")
            if whole is not None and not I32_MIN <= whole <= I32_MAX:
                self.err(ev, "args.sort_index", "%s does not fit in int32; Perfetto "
                         "wraps it" % value)
        else:
            if "name" not in ev.args:
                self.err(ev, "args.name", "missing; Perfetto ignores the event")
                return
            value = ev.args["name"]
            if not isinstance(value, str) or not value:
                self.err(ev, "args.name", "must be a non-empty string (is %s); "
                         "Perfetto ignores it" % (json.dumps(value)
                                                  if isinstance(value, str)
                                                  else type_name(value)))

    def parse_async(self, ev):
        if not ev.pid_exists:
            return  # reported by the tokenizer
        if ev.id is not None:
            cookie = ("id", ev.cat, ev.id)
        elif ev.id2_global is not None:
            cookie = ("id2.global", ev.cat, ev.id2_global)
        elif ev.id2_local is not None:
            cookie = ("id2.local", ev.cat, ev.id2_local)
        else:
            self.err(ev, "id", "missing; Perfetto drops async events without id or "
                     "id2")
            return
        key = ("async", ev.pid_key(), cookie)
        desc = "async track (pid %s, cat %s, %s %s)" % (
            ev.pid_key(), json.dumps(ev.cat), cookie[0], json.dumps(cookie[2]))
        if ev.phase == "b":
            self.start_slice(key, desc, ev, None)
            self.maybe_add_v2_flow(ev, key)
        elif ev.phase == "e":
            self.end_slice(key, ev)
        else:
            self.start_slice(key, desc, ev, 0)
            self.maybe_add_v2_flow(ev, key)

    def finish(self):
        for track in self.tracks.values():
            for s in track.stack:
                if s.dur is None:
                    self.err(s.ev, None, "begin on %s is never ended; Perfetto shows "
                             "it as unfinished (dur -1)" % track.desc)
        for key, pending in self.pending_flows.items():
            for fkey, ev in pending:
                self.err(ev, None, "flow end waits for the next slice on %s, but no "
                         "slice starts there afterwards; Perfetto never creates "
                         "the flow" % self.tracks[key].desc
                         if key in self.tracks else
                         "flow end waits for the next slice on its thread, but no "
                         "slice ever starts there; Perfetto never creates the flow")


class Track:
    def __init__(self, key, desc):
        self.key = key
        self.desc = desc
        self.stack = []
        self.last_started = None


class Slice:
    """A slice on a track stack.  B/X/thread-instant/b slices without a name
    are stored by Perfetto as "[No name]", which a named E does not match."""
    __slots__ = ("ev", "ts", "dur", "name")

    def __init__(self, ev, dur):
        self.ev = ev
        self.ts = ev.ts
        self.dur = dur
        self.name = ev.name if ev.name is not None else "[No name]"


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="Check a JSON trace the way Perfetto's JSON importer reads it "
                    "(google/perfetto@%s)." % PERFETTO_COMMIT[:12])
    parser.add_argument("--strict", action="store_true",
                        help="allow only what weft emits (phases M X i C s f, "
                             "numeric ts/dur, integer pid/tid)")
    parser.add_argument("file", metavar="FILE", help='trace file, or "-" for stdin')
    args = parser.parse_args(argv)
    try:
        if args.file == "-":
            data = sys.stdin.buffer.read()
        else:
            with open(args.file, "rb") as f:
                data = f.read()
    except OSError as e:
        print("error: cannot read %s: %s" % (args.file, e.strerror), file=sys.stderr)
        return 2
    checker = Checker(args.strict)
    checker.check_bytes(data)
    rep = checker.rep
    for w in rep.warnings[:MAX_ERRORS]:
        print("warning: " + w, file=sys.stderr)
    if len(rep.warnings) > MAX_ERRORS:
        print("warning: ... and %d more" % (len(rep.warnings) - MAX_ERRORS),
              file=sys.stderr)
    if rep.errors:
        for e in rep.errors[:MAX_ERRORS]:
            print(e)
        if len(rep.errors) > MAX_ERRORS:
            print("... and %d more" % (len(rep.errors) - MAX_ERRORS))
        return 1
    print("ok: %d events, %d tracks, %d flows, %d counter series"
          % (checker.n_events, len(checker.slice_tracks), checker.n_flows,
             len(checker.counter_series)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
