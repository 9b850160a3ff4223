"""schemathesis hooks of scripts/api_fuzz.sh: a serializer for `text/csv`.

POST /api/sensors/import documents its CSV body as an array of row objects
(one property per column); schemathesis generates such arrays, and this
writes them as the file a spreadsheet would: RFC 4180, a header row of the
columns present (sensor_id, kind and zone always), CRLF line ends.
"""

import csv
import io

import schemathesis

COLUMNS = [
    "sensor_id", "kind", "zone", "location", "unit", "warn_low", "warn_high",
    "crit_low", "crit_high", "valid_min", "valid_max", "valid_from_ms",
    "expected_interval_ms",
]


def cell(value):
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@schemathesis.serializer("text/csv")
def to_csv(ctx, value):
    if isinstance(value, (bytes, str)):
        data = value.encode("utf-8") if isinstance(value, str) else value
        return {"data": data}
    rows = [r for r in value if isinstance(r, dict)] if isinstance(value, list) else []
    present = {k for r in rows for k in r}
    header = [c for c in COLUMNS if c in present or c in ("sensor_id", "kind", "zone")]
    header += sorted(k for k in present if k not in COLUMNS)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([cell(row.get(c)) for c in header])
    return {"data": out.getvalue().encode("utf-8")}
