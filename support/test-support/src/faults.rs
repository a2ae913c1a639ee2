//! Makes chosen AWS calls fail: a crash right after a request reached AWS (the change is made,
//! the caller never hears back), a throttling answer, a 500, or a made-up answer.

use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeDeserializationInterceptorContextMut, BeforeDeserializationInterceptorContextRef,
    BeforeTransmitInterceptorContextMut,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::{Response, StatusCode};
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::ConfigBag;

use crate::recorder::is_mutating;

/// Which calls a fault hits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    /// The k-th mutating request (1-based), counted across all clients sharing the plan.
    NthMutating(usize),
    /// The first `times` attempts of an operation made after the rule was added.
    Operation { name: String, times: usize },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The request is sent and answered, then the process dies before it reads the answer: what
    /// a Lambda crash or timeout right after the call looks like. Run the code under test with
    /// [`crate::run_to_crash`].
    CrashAfter,
    /// A throttling error in the service's own wire format (retried by the SDK).
    Throttle,
    /// HTTP 500 before AWS did anything (retried by the SDK).
    ServerError,
    /// AWS applied the call, then the caller got a 500: it cannot tell whether it happened.
    ServerErrorAfter,
    /// A made-up 200 answer (JSON protocols), for states the emulator cannot reach, such as a
    /// failed ECS deployment. The request has no effect.
    Respond(&'static str),
}

#[derive(Debug)]
struct Rule {
    trigger: Trigger,
    fault: Fault,
    /// Attempts of the rule's operation seen since the rule was added.
    attempts: usize,
}

#[derive(Debug, Default)]
struct State {
    rules: Vec<Rule>,
    mutating_seen: usize,
    fired: usize,
}

#[derive(Debug, Clone, Default)]
pub struct FaultPlan {
    state: Arc<Mutex<State>>,
}

/// A path the emulator answers without touching any resource.
const NO_OP_PATH: &str = "/moto-api/injected-fault";

/// An injected crash after `.0` (an operation) reached AWS: the unwinding that stands for the
/// Lambda process dying.
#[derive(Debug)]
pub struct InjectedCrash(pub String);

/// Injected crashes unwind without the panic message a real panic prints.
fn quiet_injected_crashes() {
    static QUIET: std::sync::Once = std::sync::Once::new();
    QUIET.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !info.payload().is::<InjectedCrash>() {
                default(info);
            }
        }));
    });
}

impl FaultPlan {
    pub fn add(&self, trigger: Trigger, fault: Fault) {
        self.state.lock().unwrap().rules.push(Rule {
            trigger,
            fault,
            attempts: 0,
        });
    }

    pub fn clear(&self) {
        *self.state.lock().unwrap() = State::default();
    }

    /// How many faults were injected.
    pub fn fired(&self) -> usize {
        self.state.lock().unwrap().fired
    }

    /// Decides, once per attempt, whether this attempt fails and how.
    fn decide(&self, operation: &str) -> Option<Fault> {
        let mut state = self.state.lock().unwrap();
        if is_mutating(operation) {
            state.mutating_seen += 1;
        }
        let mutating_seen = state.mutating_seen;
        let mut fault = None;
        for rule in &mut state.rules {
            let hit = match &rule.trigger {
                Trigger::NthMutating(k) => is_mutating(operation) && mutating_seen == *k,
                Trigger::Operation { name, times } if name == operation => {
                    rule.attempts += 1;
                    rule.attempts <= *times
                }
                Trigger::Operation { .. } => false,
            };
            if hit && fault.is_none() {
                fault = Some(rule.fault);
            }
        }
        if fault.is_some() {
            state.fired += 1;
        }
        fault
    }
}

fn throttling_response(service: &str) -> Response {
    let (status, body, content_type) = match service {
        "EC2" => (
            503,
            "<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message></Error></Errors><RequestID>injected</RequestID></Response>".to_string(),
            "text/xml",
        ),
        s if s.contains("Load Balancing") => (
            400,
            "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>injected</RequestId></ErrorResponse>".to_string(),
            "text/xml",
        ),
        _ => (
            400,
            r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#.to_string(),
            "application/x-amz-json-1.1",
        ),
    };
    let mut response = Response::new(
        StatusCode::try_from(status).expect("valid status"),
        SdkBody::from(body),
    );
    response.headers_mut().insert("content-type", content_type);
    response
}

/// Pending decision for the current attempt, kept in the config bag between the two hooks.
#[derive(Debug, Clone)]
struct Decision(Option<Fault>);

impl aws_smithy_types::config_bag::Storable for Decision {
    type Storer = aws_smithy_types::config_bag::StoreReplace<Self>;
}

impl Intercept for FaultPlan {
    fn name(&self) -> &'static str {
        "test-support::FaultPlan"
    }

    /// Decides per attempt. A throttled or failed request must have no effect, as with real AWS,
    /// so it is sent to a path of the emulator that does nothing; its answer is replaced below.
    fn modify_before_transmit(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let operation = cfg
            .load::<Metadata>()
            .map(|m| m.name().to_string())
            .unwrap_or_default();
        let decision = self.decide(&operation);
        if matches!(
            decision,
            Some(Fault::Throttle | Fault::ServerError | Fault::Respond(_))
        ) {
            let request = context.request_mut();
            let uri = request.uri().to_string();
            let origin_end = uri.find("://").map(|i| i + 3).unwrap_or(0);
            let host_end = uri[origin_end..]
                .find('/')
                .map(|i| i + origin_end)
                .unwrap_or(uri.len());
            request.set_uri(format!("{}{NO_OP_PATH}", &uri[..host_end]))?;
        }
        cfg.interceptor_state().store_put(Decision(decision));
        Ok(())
    }

    fn read_after_transmit(
        &self,
        _context: &BeforeDeserializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        match cfg.load::<Decision>().and_then(|d| d.0) {
            Some(Fault::CrashAfter) => {
                let operation = cfg
                    .load::<Metadata>()
                    .map(|m| m.name().to_string())
                    .unwrap_or_default();
                // The process dies here: no code of the stage runs after it, not even a lookup
                // that an error would lead to. [`crate::run_to_crash`] catches it.
                quiet_injected_crashes();
                std::panic::panic_any(InjectedCrash(operation))
            }
            _ => Ok(()),
        }
    }

    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let service = cfg
            .load::<Metadata>()
            .map(|m| m.service().to_string())
            .unwrap_or_default();
        match cfg.load::<Decision>().and_then(|d| d.0) {
            Some(Fault::Throttle) => *context.response_mut() = throttling_response(&service),
            Some(Fault::Respond(body)) => {
                let mut response = Response::new(
                    StatusCode::try_from(200).expect("valid status"),
                    SdkBody::from(body),
                );
                response
                    .headers_mut()
                    .insert("content-type", "application/x-amz-json-1.1");
                *context.response_mut() = response;
            }
            Some(Fault::ServerError | Fault::ServerErrorAfter) => {
                *context.response_mut() = Response::new(
                    StatusCode::try_from(500).expect("valid status"),
                    SdkBody::from("injected 500"),
                )
            }
            _ => {}
        }
        Ok(())
    }
}
