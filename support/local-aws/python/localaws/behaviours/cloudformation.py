"""cloudformation-resources: CloudFormation creates what the template says (AWS::IAM::Role with
its ManagedPolicyArns attached; AWS::StepFunctions::StateMachine with its DefinitionSubstitutions
filled in); the emulator drops both, so a stack deployed here would run a state machine naming
`${NetworkFunctionArn}` and functions without the template's managed policy."""

import json

from .. import world
from ..hooks import wrap

ID = "cloudformation-resources"


@world.behaviour(ID)
def install():
    from moto.iam.aws_managed_policies import aws_managed_policies_data
    from moto.iam.models import AWSManagedPolicy, Role, iam_backends
    from moto.stepfunctions.models import StateMachine, cfn_to_api_tags
    from moto.stepfunctions.responses import get_backend
    from moto.utilities.utils import get_partition

    @wrap(Role, "create_from_cloudformation_json")
    def role(original, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        created = original(resource_name, cloudformation_json, account_id, region_name, **kwargs)
        if world.on(ID):
            iam = iam_backends[account_id][get_partition(region_name)]
            for arn in cloudformation_json["Properties"].get("ManagedPolicyArns", []):
                if arn not in iam.managed_policies:
                    # AWS's managed policies exist in every account; the emulator loads them all
                    # (slowly) or none, so only the named one is loaded.
                    name = arn.split("/")[-1]
                    data = json.loads(aws_managed_policies_data).get(name)
                    if data is None:
                        continue
                    policy = AWSManagedPolicy.from_data(name, account_id, region_name, data)
                    iam.managed_policies[policy.arn] = policy
                iam.attach_role_policy(arn, created.name)
        return created

    @wrap(StateMachine, "create_from_cloudformation_json")
    def state_machine(original, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        if not world.on(ID):
            return original(resource_name, cloudformation_json, account_id, region_name, **kwargs)
        properties = cloudformation_json["Properties"]
        definition = properties.get("DefinitionString", "")
        if not isinstance(definition, str):
            definition = json.dumps(definition)
        for key, value in (properties.get("DefinitionSubstitutions") or {}).items():
            definition = definition.replace("${" + key + "}", str(value))
        # Where the Step Functions API looks: the interpreter's backend when it executes.
        return get_backend(account_id, region_name).create_state_machine(
            properties.get("StateMachineName", resource_name),
            definition,
            properties.get("RoleArn", ""),
            tags=cfn_to_api_tags(properties.get("Tags", [])),
        )
