//! The whole system on this machine: the emulator (Step Functions interpreter on), the router
//! serving our functions, and the state machine created from template.yaml.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use alb_stage::AlbStage;
use aws_config::SdkConfig;
use custom_resource::{Control, CustomResource, ResponseUrlPolicy};
use endpoints_stage::EndpointsStage;
use local_aws::{repository_root, Emulator, EmulatorOptions, World};
use network_stage::NetworkStage;
use provisioner_core::{stages, AwsContext, Function, ProvisionError, Setup, Stage};
use service_stage::ServiceStage;

use crate::router::{self, Functions, Handler};
use crate::template;

/// The account id the emulator uses.
pub const ACCOUNT: &str = "123456789012";
/// The task execution role the template provides, as the local run names it.
pub const EXECUTION_ROLE_ARN: &str =
    "arn:aws:iam::123456789012:role/fargate-provisioner-task-execution";

#[derive(Debug, Clone)]
pub struct LocalOptions {
    pub region: String,
    /// How AWS behaves; `None` runs the plain emulator: instant, lenient, always consistent, and
    /// every service reporting 2 running tasks.
    pub world: Option<World>,
    /// Seconds between status polls in the state machine's wait loops (AWS seconds when the
    /// world's clock runs, wall seconds on the plain emulator).
    pub poll_seconds: u32,
    /// Where CloudFormation answers may go besides S3 (a local stand-in server).
    pub response_url_prefix: Option<String>,
}

/// Tasks the plain emulator reports running per service (it never starts any).
const PLAIN_RUNNING_TASKS: u32 = 2;

impl Default for LocalOptions {
    /// The realistic world, polling every 15 AWS seconds as the template does.
    fn default() -> Self {
        Self {
            region: local_aws::DEFAULT_REGION.into(),
            world: Some(World::realistic()),
            poll_seconds: custom_resource::control::DEFAULT_POLL_SECONDS,
            response_url_prefix: None,
        }
    }
}

impl LocalOptions {
    /// The plain emulator, polling every second.
    pub fn instant() -> Self {
        Self {
            world: None,
            poll_seconds: 1,
            ..Self::default()
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    #[error(transparent)]
    Emulator(#[from] local_aws::EmulatorError),
    #[error(transparent)]
    Template(#[from] template::TemplateError),
    #[error(transparent)]
    Provision(#[from] ProvisionError),
    #[error("router: {0}")]
    Router(#[from] std::io::Error),
}

pub struct LocalSystem {
    pub emulator: Emulator,
    pub config: SdkConfig,
    pub region: String,
    pub state_machine_arn: String,
    /// The custom resource function, for callers standing in for CloudFormation.
    pub custom_resource: Arc<CustomResource>,
    functions: Functions,
    router: tokio::task::JoinHandle<()>,
}

impl Drop for LocalSystem {
    fn drop(&mut self) {
        self.router.abort();
    }
}

/// The functions of the template, built the way Lambda builds them (each from its environment
/// variables), answering in-process.
struct Hosted<'a> {
    config: &'a SdkConfig,
    region: &'a str,
    vars: HashMap<&'static str, String>,
    handlers: HashMap<String, Handler>,
}

impl Hosted<'_> {
    fn build<F: Function>(&self) -> Result<F, ProvisionError> {
        let vars = |name: &str| self.vars.get(name).cloned();
        F::build(&Setup::new(self.config, self.region.to_string(), &vars))
    }

    fn serve<F: Function>(&mut self, binary: &str, function: Arc<F>) {
        let handler: Handler = Arc::new(move |event| {
            let function = function.clone();
            Box::pin(async move { function.handle(event).await })
        });
        self.handlers.insert(binary.to_string(), handler);
    }

    /// A stage's function, under the binary name the stage table gives it.
    fn stage<S: Stage>(&mut self) -> Result<(), ProvisionError> {
        let binary = stages::stage(S::NAME)
            .map(|s| s.function.binary)
            .ok_or_else(|| {
                ProvisionError::Internal(format!("{} is not in the stage table", S::NAME))
            })?;
        let stage = Arc::new(self.build::<S>()?);
        self.serve(binary, stage);
        Ok(())
    }
}

/// Every function of the template, by binary name, wired to the emulator. CloudFormation answers
/// may also go to `policy`'s local stand-in for S3.
fn functions(
    config: &SdkConfig,
    options: &LocalOptions,
    state_machine_arn: &str,
) -> Result<(HashMap<String, Handler>, Arc<CustomResource>), ProvisionError> {
    let policy = match &options.response_url_prefix {
        Some(prefix) => ResponseUrlPolicy::also_allowing(prefix.clone()),
        None => ResponseUrlPolicy::s3_only(),
    };
    // The variables template.yaml gives the functions, resolved for the local account.
    let vars = HashMap::from([
        (
            service_stage::DEFAULT_EXECUTION_ROLE_VAR,
            EXECUTION_ROLE_ARN.to_string(),
        ),
        (
            custom_resource::control::POLL_SECONDS_VAR,
            options.poll_seconds.to_string(),
        ),
        (
            custom_resource::entry::STATE_MACHINE_ARN_VAR,
            state_machine_arn.to_string(),
        ),
    ]);
    let mut hosted = Hosted {
        config,
        region: &options.region,
        vars,
        handlers: HashMap::new(),
    };
    hosted.stage::<NetworkStage>()?;
    hosted.stage::<EndpointsStage>()?;
    hosted.stage::<AlbStage>()?;
    hosted.stage::<ServiceStage>()?;
    let mut control: Control = hosted.build()?;
    control.policy = policy.clone();
    hosted.serve(stages::CONTROL.binary, Arc::new(control));
    let mut custom_resource: CustomResource = hosted.build()?;
    custom_resource.policy = policy;
    let custom_resource = Arc::new(custom_resource);
    hosted.serve(stages::CUSTOM_RESOURCE.binary, custom_resource.clone());
    if let Some(missing) = stages::functions().find(|f| !hosted.handlers.contains_key(f.binary)) {
        return Err(ProvisionError::Internal(format!(
            "{} ({}) is in the stage table but not hosted by the local router",
            missing.logical_id, missing.binary
        )));
    }
    Ok((hosted.handlers, custom_resource))
}

/// The local ARN of a function: its binary name is the function name.
pub fn function_arn(region: &str, binary: &str) -> String {
    format!("arn:aws:lambda:{region}:{ACCOUNT}:function:{binary}")
}

impl LocalSystem {
    pub async fn start(options: LocalOptions) -> Result<Self, LocalError> {
        // The router's port must be known before moto starts: moto sends Lambda tasks there.
        let listener = std::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))?;
        listener.set_nonblocking(true)?;
        let router_port = listener.local_addr()?.port();
        let mut env = vec![("MOTO_PORT".into(), router_port.to_string())];
        if options.world.is_none() {
            env.push((
                "MOTO_ECS_SERVICE_RUNNING".into(),
                PLAIN_RUNNING_TASKS.to_string(),
            ));
        }
        let emulator = Emulator::start_with(EmulatorOptions {
            env,
            world: options.world.clone(),
        })?;
        emulator.post(
            "/moto-api/config",
            r#"{"stepfunctions": {"execute_state_machine": true}}"#,
        )?;
        let config = emulator.sdk_config(&options.region).await;

        let root = repository_root();
        let template = template::read(&root.join("template.yaml"))?;
        let definition_path = root.join(&template.definition_uri);
        let definition = std::fs::read_to_string(&definition_path).map_err(|source| {
            template::TemplateError::Read {
                path: definition_path.display().to_string(),
                source,
            }
        })?;
        let definition = template::fill_definition(&definition, &template, |f| {
            function_arn(&options.region, &f.binary)
        });
        let sfn = aws_sdk_sfn::Client::new(&config);
        let created = sfn
            .create_state_machine()
            .name("fargate-provisioner")
            .definition(definition)
            .role_arn(format!(
                "arn:aws:iam::{ACCOUNT}:role/fargate-provisioner-state-machine"
            ))
            .send()
            .await
            .context("CreateStateMachine", "fargate-provisioner")?;
        let state_machine_arn = created.state_machine_arn().to_string();

        // The functions reach the emulator through the router, which notes each AWS operation;
        // their SDK's retry sleeps run on the world's clock.
        let mut through_router = config
            .to_builder()
            .endpoint_url(format!("http://127.0.0.1:{router_port}"));
        if let Some(world) = &options.world {
            through_router =
                through_router.sleep_impl(crate::clock::ScaledSleep::shared(world.scale));
        }
        let through_router = through_router.build();
        let (handlers, custom_resource) = functions(&through_router, &options, &state_machine_arn)?;
        let functions = Functions::new(handlers, emulator.endpoint());
        let app = router::app(functions.clone());
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let router = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "router stopped");
            }
        });
        Ok(Self {
            emulator,
            config,
            region: options.region,
            state_machine_arn,
            custom_resource,
            functions,
            router,
        })
    }

    /// AWS operations the functions have sent since the last [`Self::clear_calls`].
    pub fn aws_calls(&self) -> Vec<String> {
        self.functions.calls()
    }

    /// The calls that change something (everything but Describe*, Get*, List*).
    pub fn mutating_calls(&self) -> Vec<String> {
        self.aws_calls()
            .into_iter()
            .filter(|op| {
                !["Describe", "Get", "List"]
                    .iter()
                    .any(|p| op.starts_with(p))
            })
            .collect()
    }

    pub fn clear_calls(&self) {
        self.functions.clear_calls();
    }
}
