"""Checks of tests/contract.sh beyond schemathesis' own.

`positive_data_acceptance` fails a request the document calls valid that is answered with a
4xx other than 401/403/404/409. A few rules depend on more than the shape of one request and
cannot be written in a schema: a password against the account's username, a path naming the
caller, the cryptography of published keys (points on the curve, signatures, key ids), the
account named inside the opaque blobs of device linking and the key backup (bytes 1-16
are the caller's user id) with the chunk count a backup head may name, whether an image ref
names an uploaded image of the right kind, and whether uploaded bytes are a picture (415).
For those operations exactly the errors matched below are accepted answers; any other
rejection still fails the built-in rule.
"""

import re

import schemathesis
from schemathesis.specs.openapi.checks import positive_data_acceptance

PASSWORD = re.compile(
    r"password: must not (contain the username|repeat a single character)"
)
KEYS = re.compile(
    r"(certificate|signed_prekey|one_time_prekeys\[\d+\]): ("
    r"not a [a-z -]+ encoding \(tag 0x0[1-3], \d+ bytes\): (invalid public key|invalid field: [a-z _-]+)"
    r"|the user key's signature does not verify"
    r"|the signature does not verify under the device key"
    r"|must name the calling user and device"
    r"|key id \d+ appears twice)"
    r"|one_time_prekeys: a device keeps at most \d+ unclaimed one-time prekeys"
)

def image_ref(*fields):
    """A ref of the right shape that names no image uploaded as that kind."""
    alts = "|".join(fields)
    return re.compile(
        rf"({alts}): the ref of an image uploaded as [a-z]+ \(POST /api/v1/images\?kind=[a-z]+\), or null"
    )


def named(field, extra=None):
    """The blob `field` must name the caller (and, for `extra`, more)."""
    rule = rf"{field}: must name the calling (user|device)"
    return re.compile(rule if extra is None else rf"{rule}|{extra}")


BEYOND_SCHEMA = {
    ("POST", "/api/v1/accounts"): ("weak_password", PASSWORD),
    ("POST", "/api/v1/recoveries"): ("weak_password", PASSWORD),
    ("PUT", "/api/v1/users/me/password"): ("weak_password", PASSWORD),
    ("PUT", "/api/v1/users/me/blocks/{id}"): (
        "invalid_request",
        re.compile(r"you cannot block yourself"),
    ),
    ("PUT", "/api/v1/devices/{id}/keys"): ("invalid_request", KEYS),
    ("PUT", "/api/v1/devices/{id}/signed_prekey"): ("invalid_request", KEYS),
    ("POST", "/api/v1/devices/{id}/one_time_prekeys"): ("invalid_request", KEYS),
    ("PUT", "/api/v1/devices/{id}/link_request"): (
        "invalid_request",
        named("request", r"request: invalid public key"),
    ),
    ("PUT", "/api/v1/users/me/link_requests/{id}/response"): (
        "invalid_request",
        re.compile(r"a device cannot answer its own request"),
    ),
    ("PUT", "/api/v1/users/me/secret_storage"): ("invalid_request", named("storage")),
    ("PATCH", "/api/v1/users/me/profile"): (
        "invalid_request",
        image_ref("avatar_ref", "banner_ref"),
    ),
    ("PATCH", "/api/v1/communities/{id}"): (
        "invalid_request",
        image_ref("icon_ref", "banner_ref"),
    ),
    ("POST", "/api/v1/communities/{id}/emoji"): ("invalid_request", image_ref("image_ref")),
    # the bytes decide: random ones are no picture, or a broken or oversized one
    ("POST", "/api/v1/images"): (
        "unsupported_media_type|invalid_request",
        re.compile(
            r"the file is not a PNG, JPEG, GIF or WebP image"
            r"|the image could not be read: .*"
            r"|the image is too large: .*",
            re.S,
        ),
    ),
    ("POST", "/api/v1/users/me/key_backup/chunks"): ("invalid_request", named("chunk")),
    ("PUT", "/api/v1/users/me/key_backup/head"): (
        "invalid_request",
        named(
            "head",
            r"head: names \d+ chunks; it must name from \d+ \(the previous head's\) to \d+ \(the chunks stored\)",
        ),
    ),
}


@schemathesis.check
def positive_data_acceptance_with_rules(ctx, response, case):
    rule = BEYOND_SCHEMA.get((case.method.upper(), case.path))
    if rule and response.status_code in (400, 415):
        try:
            body = response.json()
        except Exception:
            body = None
        code, message = rule
        if (
            isinstance(body, dict)
            and re.fullmatch(code, str(body.get("code")))
            and isinstance(body.get("message"), str)
            and message.fullmatch(body["message"])
        ):
            return None
    return positive_data_acceptance(ctx, response, case)
