// Decides AWS authorization for the local router: one JSON request per input line,
// {"policies": [...], "principal", "account", "action", "resource", "context": {...}},
// one JSON answer per output line, {"decision": "Allowed" | "ImplicitlyDenied" |
// "ExplicitlyDenied" | "Error", "detail"?}.
import readline from 'node:readline'
import { runSimulation } from '@cloud-copilot/iam-simulate'

const lines = readline.createInterface({ input: process.stdin })
function simulate(q, resource) {
  return runSimulation(
    {
      identityPolicies: q.policies.map((policy, i) => ({ name: `policy${i}`, policy })),
      serviceControlPolicies: [],
      resourceControlPolicies: [],
      request: {
        action: q.action,
        principal: q.principal,
        resource: { accountId: q.account, resource },
        contextVariables: q.context
      }
    },
    {}
  )
}

for await (const line of lines) {
  let answer
  try {
    const q = JSON.parse(line)
    let result = await simulate(q, q.resource)
    // Actions without resource-level permissions are authorized on "*" only.
    if (result.resultType === 'error' && JSON.stringify(result.errors).includes('must.use.wildcard')) {
      result = await simulate(q, '*')
    }
    answer =
      result.resultType === 'error'
        ? { decision: 'Error', detail: result.errors.message }
        : { decision: result.overallResult }
  } catch (e) {
    answer = { decision: 'Error', detail: String(e) }
  }
  process.stdout.write(JSON.stringify(answer) + '\n')
}
