"""The deploy rehearsal: template.yaml deployed to the emulator the way `sam deploy` deploys it to
AWS. The template is packaged (every function's code points at one object of a bucket; the
functions themselves run in the local router), the state machine's definition is inlined from its
file, the SAM transform makes it plain CloudFormation, and it is uploaded and created as a stack.
What runs locally is then the stack's: its state machine, its functions' names, environments and
roles (with their policies, for the IAM check), its EventBridge rule.

    python -m localaws.rehearsal ENDPOINT REGION TEMPLATE STACK [KEY=VALUE ...]

prints the stack as JSON: outputs, and per function its logical id, name, ARN, environment and
the policy documents of its role."""

import ast
import io
import json
import os
import sys
import time
import zipfile

import boto3
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

BUCKET = "fargate-provisioner-rehearsal"
CODE_KEY = "functions.zip"
TEMPLATE_KEY = "template.json"


class NoManagedPolicyNames:
    """The template names AWS managed policies by ARN only, so there is nothing to look up."""

    def load(self):
        return {}


def package(template_path):
    """The template as `sam package` leaves it, transformed as CloudFormation does."""
    with open(template_path) as f:
        template = yaml_parse(f.read())
    root = os.path.dirname(os.path.abspath(template_path))
    for resource in template.get("Resources", {}).values():
        properties = resource.get("Properties", {})
        if resource.get("Type") == "AWS::Serverless::Function":
            properties["CodeUri"] = {"Bucket": BUCKET, "Key": CODE_KEY}
        if resource.get("Type") == "AWS::Serverless::StateMachine" and "DefinitionUri" in properties:
            with open(os.path.join(root, properties.pop("DefinitionUri"))) as f:
                properties["Definition"] = json.load(f)
    return transform(template, {}, NoManagedPolicyNames())


def _policies_of(iam, role_name):
    documents = []
    for name in iam.list_role_policies(RoleName=role_name)["PolicyNames"]:
        documents.append(iam.get_role_policy(RoleName=role_name, PolicyName=name)["PolicyDocument"])
    for attached in iam.list_attached_role_policies(RoleName=role_name)["AttachedPolicies"]:
        policy = iam.get_policy(PolicyArn=attached["PolicyArn"])["Policy"]
        version = iam.get_policy_version(
            PolicyArn=attached["PolicyArn"], VersionId=policy["DefaultVersionId"]
        )
        documents.append(version["PolicyVersion"]["Document"])
    return [_document(d) for d in documents]


def _document(document):
    """A policy document: moto keeps the inline policies of a stack's roles as Python text."""
    if not isinstance(document, str):
        return document
    try:
        return json.loads(document)
    except json.JSONDecodeError:
        return ast.literal_eval(document)


def deploy(endpoint, region, template_path, stack, parameters):
    clients = {
        name: boto3.client(
            name,
            endpoint_url=endpoint,
            region_name=region,
            aws_access_key_id="rehearsal",
            aws_secret_access_key="rehearsal",
        )
        for name in ("s3", "cloudformation", "lambda", "iam")
    }
    s3, cfn = clients["s3"], clients["cloudformation"]
    s3.create_bucket(
        Bucket=BUCKET,
        **({} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}),
    )
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as z:
        z.writestr("bootstrap", "#!/bin/sh\n# served by the local router\n")
    s3.put_object(Bucket=BUCKET, Key=CODE_KEY, Body=code.getvalue())
    # Over CloudFormation's 51,200-byte TemplateBody: from S3, as sam deploy sends it.
    # The SAM transform takes the region from the environment, as sam deploy's does.
    os.environ["AWS_DEFAULT_REGION"] = region
    s3.put_object(Bucket=BUCKET, Key=TEMPLATE_KEY, Body=json.dumps(package(template_path)))
    cfn.create_stack(
        StackName=stack,
        TemplateURL=f"https://{BUCKET}.s3.amazonaws.com/{TEMPLATE_KEY}",
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
    )
    while True:
        described = cfn.describe_stacks(StackName=stack)["Stacks"][0]
        if not described["StackStatus"].endswith("IN_PROGRESS"):
            break
        time.sleep(0.1)
    if described["StackStatus"] != "CREATE_COMPLETE":
        raise SystemExit(f"stack {stack}: {described['StackStatus']}: {described.get('StackStatusReason')}")
    resources = cfn.list_stack_resources(StackName=stack)["StackResourceSummaries"]
    functions = []
    for resource in resources:
        if resource["ResourceType"] != "AWS::Lambda::Function":
            continue
        config = clients["lambda"].get_function_configuration(FunctionName=resource["PhysicalResourceId"])
        functions.append(
            {
                "logicalId": resource["LogicalResourceId"],
                "name": config["FunctionName"],
                "arn": config["FunctionArn"],
                "roleArn": config["Role"],
                "timeout": config.get("Timeout", 3),
                "environment": config.get("Environment", {}).get("Variables", {}),
                "policies": _policies_of(clients["iam"], config["Role"].split("/")[-1]),
            }
        )
    return {
        "stack": described["StackId"],
        "outputs": {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])},
        "resources": {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in resources},
        "functions": functions,
    }


if __name__ == "__main__":
    endpoint, region, template_path, stack = sys.argv[1:5]
    parameters = dict(arg.split("=", 1) for arg in sys.argv[5:])
    json.dump(deploy(endpoint, region, template_path, stack, parameters), sys.stdout)
