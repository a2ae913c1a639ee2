//! Faults across a whole run: the router fails chosen AWS calls of the hosted functions, or the
//! invocations that make them, the ways AWS and Lambda fail. Rules pick a call (by function,
//! operation and count); a seeded random mode hits every kind at a rate. (test-support's fault
//! plan does the same for one stage's clients; this one covers executions of the state machine.)

use std::sync::{Arc, Mutex};

/// How a call, or the invocation that made it, fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FaultKind {
    /// Throttled before AWS applied the call.
    ThrottleBefore,
    /// A 5xx in the service's error format before AWS applied the call.
    ServerErrorBefore,
    /// A 502 from a proxy, with an HTML body, before AWS applied the call.
    GatewayErrorBefore,
    /// AWS applied the call, then the caller got a 500: it cannot tell whether it happened.
    ServerErrorAfter,
    /// The call never answers until the caller gives up (or its Lambda runs out of time).
    Hang,
    /// The Lambda invocation dies right after this call was applied (`Runtime.ExitError`).
    Crash,
    /// The Lambda invocation runs out of time right after this call (`Sandbox.Timedout`).
    Timeout,
}

impl FaultKind {
    pub const ALL: [FaultKind; 7] = [
        FaultKind::ThrottleBefore,
        FaultKind::ServerErrorBefore,
        FaultKind::GatewayErrorBefore,
        FaultKind::ServerErrorAfter,
        FaultKind::Hang,
        FaultKind::Crash,
        FaultKind::Timeout,
    ];

    /// For an invocation-ending fault, the error Lambda reports.
    pub fn lambda_error(self) -> Option<(&'static str, &'static str)> {
        match self {
            FaultKind::Crash => Some((
                "Runtime.ExitError",
                "RequestId: local Error: Runtime exited with error: signal: killed",
            )),
            FaultKind::Timeout => {
                Some(("Sandbox.Timedout", "RequestId: local Error: Task timed out"))
            }
            _ => None,
        }
    }
}

/// A scripted fault: the `nth` call (1-based) that matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// A hosted function's logical id (`NetworkFunction`) or deployed name; `None`: any.
    pub function: Option<String>,
    /// An operation (`CreateVpc`); `None`: any.
    pub operation: Option<String>,
    pub nth: usize,
    pub kind: FaultKind,
}

/// One fault that fired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fired {
    pub function: String,
    pub operation: String,
    pub kind: FaultKind,
}

#[derive(Debug, Default)]
struct State {
    rules: Vec<(Rule, usize)>,
    random: Option<(fastrand::Rng, Vec<(FaultKind, f64)>)>,
    fired: Vec<Fired>,
}

#[derive(Debug, Clone, Default)]
pub struct FaultPlan {
    state: Arc<Mutex<State>>,
}

impl FaultPlan {
    pub fn add(&self, rule: Rule) {
        self.lock().rules.push((rule, 0));
    }

    /// Every mutating call (the ones a fault can make happen twice or half) fails with each kind
    /// at its rate, drawn from a generator seeded with `seed`. Reads are left alone.
    pub fn random(&self, seed: u64, rates: &[(FaultKind, f64)]) {
        self.lock().random = Some((fastrand::Rng::with_seed(seed), rates.to_vec()));
    }

    pub fn clear(&self) {
        *self.lock() = State::default();
    }

    pub fn fired(&self) -> Vec<Fired> {
        self.lock().fired.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Decides, once per call, whether it fails and how. `names` are the caller's logical id and
    /// deployed name.
    pub fn decide(&self, names: [&str; 2], operation: &str) -> Option<FaultKind> {
        let mut state = self.lock();
        let mut decided = None;
        for (rule, seen) in &mut state.rules {
            let function_matches = rule.function.as_deref().is_none_or(|f| names.contains(&f));
            let operation_matches = rule.operation.as_deref().is_none_or(|o| o == operation);
            if function_matches && operation_matches {
                *seen += 1;
                if *seen == rule.nth && decided.is_none() {
                    decided = Some(rule.kind);
                }
            }
        }
        if decided.is_none() && is_mutating(operation) {
            if let Some((rng, rates)) = &mut state.random {
                let draw = rng.f64();
                let mut bound = 0.0;
                for (kind, rate) in rates.iter() {
                    bound += rate;
                    if draw < bound {
                        decided = Some(*kind);
                        break;
                    }
                }
            }
        }
        if let Some(kind) = decided {
            state.fired.push(Fired {
                function: names[1].to_string(),
                operation: operation.to_string(),
                kind,
            });
        }
        decided
    }
}

/// Reads are Describe*, Get*, List*; every other operation changes something.
pub fn is_mutating(operation: &str) -> bool {
    !["Describe", "Get", "List"]
        .iter()
        .any(|p| operation.starts_with(p))
}

/// The service's throttling answer (status, content type, body).
pub fn throttling(service: &str) -> (u16, &'static str, String) {
    match service {
        "ec2" => (503, "text/xml", "<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message></Error></Errors><RequestID>local-fault</RequestID></Response>".into()),
        "elasticloadbalancing" => (400, "text/xml", "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>local-fault</RequestId></ErrorResponse>".into()),
        _ => (400, "application/x-amz-json-1.1", r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#.into()),
    }
}

/// The service's internal error answer.
pub fn server_error(service: &str) -> (u16, &'static str, String) {
    match service {
        "ec2" => (500, "text/xml", "<Response><Errors><Error><Code>InternalError</Code><Message>An internal error has occurred</Message></Error></Errors><RequestID>local-fault</RequestID></Response>".into()),
        "elasticloadbalancing" => (500, "text/xml", "<ErrorResponse><Error><Type>Receiver</Type><Code>InternalFailure</Code><Message>An internal error has occurred</Message></Error><RequestId>local-fault</RequestId></ErrorResponse>".into()),
        _ => (500, "application/x-amz-json-1.1", r#"{"__type":"InternalFailure","message":"An internal error has occurred"}"#.into()),
    }
}

/// A proxy's 502, not in any AWS format.
pub fn gateway_error() -> (u16, &'static str, String) {
    (
        502,
        "text/html",
        "<html><head><title>502 Bad Gateway</title></head><body>Bad Gateway</body></html>".into(),
    )
}
