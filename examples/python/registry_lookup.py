"""The schema id a producer writes with, found the way the project's own producer finds it.

The legacy ``confluent_kafka.avro`` API (what Debian's python3-confluent-kafka 1.7 ships) registers
``str(schema)``, the schema re-serialised by the avro library, without asking the registry to
normalise. Apicurio then matches the exact text, finds no version spelled that way and adds one: a
second version and a new id beside the project's, for the very same schema. So these examples never
let the library register: they look the schema up (or register it) with ``normalize=true``, which
compares canonical forms, and encode with the id that comes back.
"""

import json
import urllib.error
import urllib.request

JSON_TYPE = "application/vnd.schemaregistry.v1+json"


def _post(url, body):
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode("utf-8"),
        method="POST",
        headers={"Content-Type": JSON_TYPE, "Accept": JSON_TYPE},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def schema_id(registry_url, subject, schema_text):
    """The id of ``schema_text`` under ``subject``: the version already there in any spelling, else a new one."""
    base = registry_url.rstrip("/")
    body = {"schema": schema_text, "schemaType": "AVRO"}
    try:
        return _post(f"{base}/subjects/{subject}?normalize=true", body)["id"]
    except urllib.error.HTTPError as error:
        # 404: no such subject (40401) or no such schema in it (40403); anything else is a real failure.
        if error.code != 404:
            raise
    return _post(f"{base}/subjects/{subject}/versions?normalize=true", body)["id"]
