"""Prepares the server of tests/contract.sh: waits for it, registers the owner (with the setup
token) and a member, and makes one of each thing a path names (a community with a channel,
group and invite, a DM, a second session, a registration invite), so that operations reach
their logic instead of a 404. Prints them as shell assignments for tests/schemathesis.toml."""

import json
import sys
import time
import urllib.request

base, token = sys.argv[1], sys.argv[2]
deadline = time.time() + 120
while True:
    try:
        urllib.request.urlopen(base + "/api/v1/health", timeout=2)
        break
    except Exception:
        if time.time() > deadline:
            sys.exit("the server did not start")
        time.sleep(0.5)


def call(method, path, body=None, auth=None):
    req = urllib.request.Request(
        base + "/api/v1" + path,
        method=method,
        data=json.dumps({} if body is None else body).encode(),
    )
    req.add_header("Content-Type", "application/json")
    if auth:
        req.add_header("Authorization", "Bearer " + auth)
    return json.load(urllib.request.urlopen(req))


password = "contract test passphrase"
owner = call("POST", "/accounts", {"username": "owner", "password": password, "setup_token": token})
member = call("POST", "/accounts", {"username": "member", "password": password})
# Operations that end a thing get their own: deleting the seeded community first would turn
# every later operation on it into a 404.
kicked = call("POST", "/accounts", {"username": "kicked", "password": password})
banned = call("POST", "/accounts", {"username": "banned", "password": password})
second = call(
    "POST",
    "/sessions",
    {
        "username": "owner",
        "password": password,
        "device_id": owner["device_id"],
        "device_secret": owner["device_secret"],
    },
)
# A device of the owner's own for DELETE /devices/{id}: removing the device the run signs in
# with would end its session, and every later operation would meet a 401.
doomed_device = call("POST", "/sessions", {"username": "owner", "password": password})["device_id"]
o, m = owner["access_token"], member["access_token"]
community = call("POST", "/communities", {"name": "contract", "visibility": "public"}, o)["id"]
for user in (m, kicked["access_token"], banned["access_token"]):
    call("POST", f"/communities/{community}/members", {}, user)
seeded = {
    "ACCESS": o,
    "MEMBER": member["user"]["id"],
    "COMMUNITY": community,
    "CHANNEL": call("POST", f"/communities/{community}/channels", {"name": "seed"}, o)["id"],
    "GROUP": call("POST", f"/communities/{community}/groups", {"name": "seed"}, o)["id"],
    "COMMUNITY_INVITE": call("POST", f"/communities/{community}/invites", {}, o)["id"],
    "DM": call("POST", "/dms", {"user_ids": [member["user"]["id"]]}, o)["id"],
    "DEVICE": owner["device_id"],
    "DOOMED_DEVICE": doomed_device,
    "SESSION": second["session_id"],
    "INVITE": call("POST", "/invites", {}, o)["id"],
    "KICKED": kicked["user"]["id"],
    "BANNED": banned["user"]["id"],
    "DOOMED_COMMUNITY": call("POST", "/communities", {"name": "doomed"}, o)["id"],
    "DOOMED_CHANNEL": call("POST", f"/communities/{community}/channels", {"name": "doomed"}, o)["id"],
    "DOOMED_GROUP": call("POST", f"/communities/{community}/groups", {"name": "doomed"}, o)["id"],
    "DOOMED_COMMUNITY_INVITE": call("POST", f"/communities/{community}/invites", {}, o)["id"],
    "DOOMED_DM": call("POST", "/dms", {"user_ids": [kicked["user"]["id"]]}, o)["id"],
    "DOOMED_INVITE": call("POST", "/invites", {}, o)["id"],
}
for name, value in seeded.items():
    print(f"export CT_{name}='{value}'")
