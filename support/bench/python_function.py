"""The Python + boto3 baseline of scripts/bench: a Lambda function (custom runtime loop against the
Runtime API) that creates the boto3 clients named on its command line, as the Rust function it
stands beside builds its SDK clients, then answers each event after one Parameter Store read."""

import json
import os
import sys
import urllib.request

import boto3

clients = {name: boto3.client(name) for name in sys.argv[1:]}
base = f"http://{os.environ['AWS_LAMBDA_RUNTIME_API']}/2018-06-01/runtime/invocation"

while True:
    with urllib.request.urlopen(f"{base}/next") as response:
        request_id = response.headers["Lambda-Runtime-Aws-Request-Id"]
        event = json.loads(response.read() or b"{}")
    environment = event.get("environment", "bench") if isinstance(event, dict) else "bench"
    found = clients["ssm"].get_parameters(Names=[f"/fargate-provisioner/{environment}/spec"])
    answer = json.dumps({"invalid": found.get("InvalidParameters", [])}).encode()
    request = urllib.request.Request(f"{base}/{request_id}/response", data=answer, method="POST")
    urllib.request.urlopen(request).close()
