"""A check of our own for the fuzz run (loaded by tests/fuzz/fuzz.py through `hooks`).

The run accepts 422 for schema-valid data: `validation-failed` is a rule JSON Schema cannot say
(an end before its start, a policy that could never match). But 422 `invalid-body` or 400
`malformed-json` for data the document allows means the document and the code disagree on the
body's shape: that stays a failure.
"""

import schemathesis


@schemathesis.check
def valid_data_has_the_documented_shape(ctx, response, case):
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or response.status_code not in (400, 422):
        return None
    try:
        problem = response.json()
    except ValueError:
        return None
    kind = problem.get("type") if isinstance(problem, dict) else None
    if kind in ("invalid-body", "malformed-json"):
        raise AssertionError(
            f"Schema-valid data refused as `{kind}`: the document and the code disagree on the "
            f"body's shape ({problem.get('detail')})"
        )
    return None
