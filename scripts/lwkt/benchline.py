"""One "# bench: name=ID value=N unit=U [key=value ...]" line: its parsing
and what it holds.  Used by the KTAP parser (ktap.py) and `bench`.
"""

import re


NUMBER_RE = re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$")
INT_RE = re.compile(r"^[-+]?\d+$")


def to_number(text):
    """int or float if `text` is a plain decimal number, else None."""
    if INT_RE.match(text):
        return int(text)
    if NUMBER_RE.match(text):
        return float(text)
    return None


class BenchResult(object):
    """One "# bench: name=ID value=N unit=U [key=value ...]" line."""

    def __init__(self, name, value, unit, fields, raw_value, test=None,
                 raw_fields=None):
        self.name = name
        self.value = value            # int or float
        self.unit = unit
        self.fields = fields          # {key: int, float or str}, in order
        self.raw_value = raw_value    # the value as printed
        self.raw_fields = raw_fields if raw_fields is not None else \
            dict((k, str(v)) for k, v in fields.items())   # as printed
        self.test = test              # KTAP test running when printed

    def to_json(self):
        return dict(name=self.name, value=self.value, unit=self.unit,
                    fields=dict(self.fields), test=self.test)


def parse_bench(text):
    """Parse what follows "# bench:".  Returns a BenchResult (test unset);
    raises ValueError naming what is wrong."""
    words = text.split()
    pairs = []
    for w in words:
        k, eq, v = w.partition("=")
        if not eq or not k:
            raise ValueError("%r is not key=value" % w)
        pairs.append((k, v))
    if [k for k, _ in pairs[:3]] != ["name", "value", "unit"]:
        raise ValueError("must start name=... value=... unit=...")
    name, raw, unit = (v for _, v in pairs[:3])
    if not name:
        raise ValueError("empty name")
    if not unit:
        raise ValueError("empty unit")
    value = to_number(raw)
    if value is None:
        raise ValueError("value %r is not a number" % raw)
    fields, raw_fields = {}, {}
    for k, v in pairs[3:]:
        if k in fields or k in ("name", "value", "unit"):
            raise ValueError("key %r given twice" % k)
        n = to_number(v)
        fields[k] = v if n is None else n
        raw_fields[k] = v
    return BenchResult(name, value, unit, fields, raw, None, raw_fields)
