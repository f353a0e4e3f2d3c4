#!/usr/bin/env python3
"""Checks JSON against the schemas of nubo's OpenAPI document
(src/api/openapi.json), with python3-jsonschema (draft 2020-12, the dialect
of OpenAPI 3.1). Used by tests/api/openapi.sh; prints one line per check:

    ok<TAB>WHAT
    fail<TAB>WHAT<TAB>WHY

  openapi_check.py examples OPENAPI FILE.md...
      Every ```json block of each file must follow a marker line that says
      what it is an example of, and validate against that:
        <!-- openapi: METHOD PATH request -->     the operation's request body
        <!-- openapi: METHOD PATH STATUS -->      its response with that status
        <!-- openapi: schema NAME -->             #/components/schemas/NAME
        <!-- openapi: none WHY -->                not the API's JSON (nubod.json): skipped
      PATH is the document's template (/v1/vms/{vm}). A block may hold several
      JSON values, one after another (each is checked), and // comments to the
      end of a line, which are dropped first. An unmarked block is a failure.

  openapi_check.py responses OPENAPI RECORDS
      RECORDS holds one JSON object per line, {"method", "path" (as sent),
      "status", "type" (Content-Type), "body" (text), "request" (text or
      null)}: each answer must be documented for its operation (path, method,
      status, content type) and validate against its schema, and each request
      body that nubod took (a status below 400) against the operation's.
"""
import json
import re
import sys
import warnings

import jsonschema

# RefResolver is what Debian's jsonschema (4.10) has; later ones warn that it
# is deprecated, which changes nothing here.
warnings.filterwarnings("ignore", category=DeprecationWarning)

METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")


class Doc:
    def __init__(self, path):
        with open(path) as f:
            self.doc = json.load(f)
        self.resolver = jsonschema.RefResolver.from_schema(self.doc)

    def validate(self, value, schema):
        """'' when value fits schema, else why not (the first few errors)."""
        v = jsonschema.Draft202012Validator(schema, resolver=self.resolver)
        errs = sorted(v.iter_errors(value), key=lambda e: list(e.absolute_path))
        return "; ".join("at /%s: %s" % ("/".join(str(p) for p in e.absolute_path), e.message[:300])
                         for e in errs[:3])

    def follow(self, obj):
        while isinstance(obj, dict) and "$ref" in obj:
            parts = obj["$ref"].lstrip("#/").split("/")
            obj = self.doc
            for p in parts:
                obj = obj[p]
        return obj

    def template_of(self, path):
        """The document's path template that path (as sent) fits, or None."""
        segs = path.split("?")[0].split("/")
        for tmpl in self.doc["paths"]:
            t = tmpl.split("/")
            if len(t) == len(segs) and all(a == b or (a.startswith("{") and a.endswith("}") and b)
                                           for a, b in zip(t, segs)):
                return tmpl
        return None

    def operation(self, method, tmpl):
        item = self.doc["paths"].get(tmpl)
        return item.get(method.lower()) if item else None

    def request_schema(self, op):
        body = self.follow(op.get("requestBody"))
        if not body:
            return None
        return body["content"]["application/json"]["schema"]

    def response(self, op, status):
        return self.follow(op["responses"].get(str(status)))


def strip_comments(text):
    """text without // comments that start outside a JSON string."""
    out, in_str, esc, i = [], False, False, 0
    while i < len(text):
        c = text[i]
        if in_str:
            out.append(c)
            if esc:
                esc = False
            elif c == "\\":
                esc = True
            elif c == '"':
                in_str = False
        elif c == '"':
            in_str = True
            out.append(c)
        elif text.startswith("//", i):
            while i < len(text) and text[i] != "\n":
                i += 1
            continue
        else:
            out.append(c)
        i += 1
    return "".join(out)


def json_values(text):
    """The JSON values text holds, one after another."""
    dec, values, i = json.JSONDecoder(), [], 0
    text = strip_comments(text)
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i == len(text):
            return values
        v, i = dec.raw_decode(text, i)
        values.append(v)


MARKER = re.compile(r"<!--\s*openapi:\s*(.*?)\s*-->")


def examples(doc, files):
    found = 0
    for name in files:
        lines = open(name).read().split("\n")
        i = 0
        while i < len(lines):
            fence = re.match(r"^(\s*)```(\w*)\s*$", lines[i])
            if not fence:
                i += 1
                continue
            indent, lang = fence.group(1), fence.group(2)
            j = i + 1
            while j < len(lines) and lines[j].strip() != "```":
                j += 1
            if lang == "json":
                # the marker is the last line before the fence that is not blank
                k = i - 1
                while k >= 0 and not lines[k].strip():
                    k -= 1
                m = MARKER.search(lines[k]) if k >= 0 else None
                if m and m.group(1).split()[0] == "none":
                    i = j + 1
                    continue
                found += 1
                block = "\n".join(l[len(indent):] if l.startswith(indent) else l for l in lines[i + 1:j])
                check_example(doc, "%s:%d" % (name, i + 1), m.group(1) if m else None, block)
            i = j + 1
    print("count\t%d" % found)


def check_example(doc, where, marker, block):
    if not marker:
        print("fail\t%s\ta json block without a marker line <!-- openapi: … --> before it" % where)
        return
    what = "%s (%s)" % (where, marker)
    words = marker.split()
    try:
        if words[0] == "schema" and len(words) == 2:
            schema = {"$ref": "#/components/schemas/" + words[1]}
            doc.follow(schema)
        elif len(words) == 3:
            method, tmpl, kind = words
            op = doc.operation(method, tmpl)
            if not op:
                raise KeyError("no operation %s %s in the document" % (method, tmpl))
            if kind == "request":
                schema = doc.request_schema(op)
                if schema is None:
                    raise KeyError("%s %s takes no request body" % (method, tmpl))
            else:
                r = doc.response(op, kind)
                if not r:
                    raise KeyError("%s %s has no response %s" % (method, tmpl, kind))
                schema = r["content"]["application/json"]["schema"]
        else:
            raise KeyError("a marker is METHOD PATH request|STATUS, or schema NAME")
        values = json_values(block)
    except (KeyError, ValueError) as e:
        print("fail\t%s\t%s" % (what, e))
        return
    if not values:
        print("fail\t%s\tthe block is empty" % what)
        return
    for n, v in enumerate(values):
        why = doc.validate(v, schema)
        label = what if len(values) == 1 else "%s, value %d" % (what, n + 1)
        print(("fail\t%s\t%s" % (label, why)) if why else ("ok\t%s" % label))


def responses(doc, records):
    for line in open(records):
        if not line.strip():
            continue
        r = json.loads(line)
        what = "%s %s → %s" % (r["method"], r["path"], r["status"])
        tmpl = doc.template_of(r["path"])
        op = doc.operation(r["method"], tmpl) if tmpl else None
        if not op:
            print("fail\t%s\tno operation in the document for this path and method" % what)
            continue
        what = "%s %s → %s" % (r["method"], tmpl, r["status"])
        problems = []
        if r.get("request") and r["status"] < 400:   # a refused body may be anything
            schema = doc.request_schema(op)
            if schema is None:
                problems.append("the document says it takes no body")
            else:
                why = doc.validate(json.loads(r["request"]), schema)
                if why:
                    problems.append("request: " + why)
        resp = doc.response(op, r["status"])
        if not resp:
            problems.append("status %s is not documented" % r["status"])
        else:
            content = resp.get("content")
            ctype = (r.get("type") or "").split(";")[0].strip()
            if not content:
                if r["body"]:
                    problems.append("a body where the document has none")
            elif ctype not in content:
                problems.append("Content-Type %s, documented: %s" % (ctype, ", ".join(content)))
            elif ctype == "application/json":
                why = doc.validate(json.loads(r["body"]), content[ctype]["schema"])
                if why:
                    problems.append("response: " + why)
        print(("fail\t%s\t%s" % (what, " | ".join(problems))) if problems else ("ok\t%s" % what))


def main():
    cmd, spec = sys.argv[1], sys.argv[2]
    doc = Doc(spec)
    if cmd == "examples":
        examples(doc, sys.argv[3:])
    elif cmd == "responses":
        responses(doc, sys.argv[3])
    else:
        sys.exit("usage: openapi_check.py examples|responses OPENAPI …")


if __name__ == "__main__":
    main()
