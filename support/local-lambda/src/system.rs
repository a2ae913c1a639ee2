//! The whole system on this machine: the emulator (its world configured, its Step Functions
//! interpreter on), template.yaml deployed to it as a CloudFormation stack (the deploy rehearsal),
//! and the router serving the stack's functions from their own code.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use alb_stage::AlbStage;
use aws_config::SdkConfig;
use aws_credential_types::Credentials;
use custom_resource::{Control, CustomResource, ResponseUrlPolicy};
use endpoints_stage::EndpointsStage;
use local_aws::{repository_root, Emulator, EmulatorOptions, World};
use network_stage::NetworkStage;
use provisioner_core::{stages, Function, ProvisionError, Setup, Stage};
use service_stage::ServiceStage;

use crate::rehearsal::{self, DeployedFunction, RehearsalError, Stack};
use crate::router::{self, Caller, Functions, Handler};

/// The account id the emulator uses.
pub const ACCOUNT: &str = "123456789012";
/// The stack the local system deploys.
pub const STACK_NAME: &str = "fargate-provisioner";

#[derive(Debug, Clone)]
pub struct LocalOptions {
    pub region: String,
    /// How AWS behaves.
    pub world: World,
    /// Seconds between status polls in the state machine's wait loops (AWS seconds on the
    /// world's clock).
    pub poll_seconds: u32,
    /// Where CloudFormation answers may go besides S3 (a local stand-in server).
    pub response_url_prefix: Option<String>,
    /// Tasks the plain emulator reports running per service when ECS tasks are not simulated
    /// (the realistic world runs each service's desired count): the spec's desired count.
    pub plain_running_tasks: u32,
}

impl Default for LocalOptions {
    /// The realistic world, polling as often as the template does by default.
    fn default() -> Self {
        Self {
            region: local_aws::DEFAULT_REGION.into(),
            world: World::realistic(),
            poll_seconds: custom_resource::control::DEFAULT_POLL_SECONDS,
            response_url_prefix: None,
            plain_running_tasks: 2,
        }
    }
}

impl LocalOptions {
    /// The plain emulator's behaviour, polling every second.
    pub fn instant() -> Self {
        Self {
            world: World::instant(),
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
    Rehearsal(#[from] RehearsalError),
    #[error(transparent)]
    Provision(#[from] ProvisionError),
    #[error("router: {0}")]
    Router(#[from] std::io::Error),
}

pub struct LocalSystem {
    pub emulator: Emulator,
    /// Configuration for a caller of its own (a test, the CLI): through the router.
    pub config: SdkConfig,
    pub region: String,
    pub state_machine_arn: String,
    /// The stack as CloudFormation created it.
    pub stack: Stack,
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

/// The stack's functions, each built the way Lambda builds it (from its environment variables)
/// with its own credentials, answering in-process under its deployed name.
struct Hosted {
    config: SdkConfig,
    region: String,
    stack: Stack,
    handlers: HashMap<String, Handler>,
    callers: HashMap<String, Caller>,
    /// Variables only the local system sets: where the world answers for load balancers.
    local_vars: HashMap<String, String>,
}

impl Hosted {
    fn deployed(&self, function: stages::Function) -> Result<&DeployedFunction, ProvisionError> {
        self.stack
            .functions
            .iter()
            .find(|f| f.logical_id == function.logical_id)
            .ok_or_else(|| {
                ProvisionError::Internal(format!(
                    "{} is in the stage table but not in the stack",
                    function.logical_id
                ))
            })
    }

    /// Builds a function from its deployed environment, with credentials that name it (the
    /// router's IAM check reads them).
    fn build<F: Function>(&mut self, function: stages::Function) -> Result<F, ProvisionError> {
        let deployed = self.deployed(function)?.clone();
        let config = as_function(&self.config, &deployed.name);
        let vars = |name: &str| {
            deployed
                .environment
                .get(name)
                .or_else(|| self.local_vars.get(name))
                .cloned()
        };
        let built = F::build(&Setup::new(&config, self.region.clone(), &vars))?;
        self.callers.insert(
            deployed.name.clone(),
            Caller {
                function: deployed.name.clone(),
                logical_id: deployed.logical_id.clone(),
                role_arn: deployed.role_arn.clone(),
                policies: deployed.policies.clone(),
                timeout_seconds: deployed.timeout,
            },
        );
        Ok(built)
    }

    fn serve<F: Function>(
        &mut self,
        function: stages::Function,
        built: Arc<F>,
    ) -> Result<(), ProvisionError> {
        let name = self.deployed(function)?.name.clone();
        let handler: Handler = Arc::new(move |event| {
            let built = built.clone();
            Box::pin(async move { built.handle(event).await })
        });
        self.handlers.insert(name, handler);
        Ok(())
    }

    /// A stage's function, under the name the stack gave it.
    fn stage<S: Stage>(&mut self) -> Result<(), ProvisionError> {
        let function = stages::stage(S::NAME).map(|s| s.function).ok_or_else(|| {
            ProvisionError::Internal(format!("{} is not in the stage table", S::NAME))
        })?;
        let stage = Arc::new(self.build::<S>(function)?);
        self.serve(function, stage)
    }
}

/// `config` signing as the deployed function `name` (the router's IAM check and faults key on
/// the access key).
fn as_function(config: &SdkConfig, name: &str) -> SdkConfig {
    let credentials = Credentials::new(name, "local", None, None, "local-lambda");
    config
        .to_builder()
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(credentials),
        )
        .build()
}

/// Every function of the stack, by deployed name, wired to the emulator through the router.
/// CloudFormation answers may also go to `options`' local stand-in for S3.
fn host(
    config: &SdkConfig,
    options: &LocalOptions,
    stack: &Stack,
    emulator_address: &str,
) -> Result<(Hosted, Arc<CustomResource>), ProvisionError> {
    let mut hosted = Hosted {
        config: config.clone(),
        region: options.region.clone(),
        stack: stack.clone(),
        handlers: HashMap::new(),
        callers: HashMap::new(),
        local_vars: HashMap::from([(
            service_stage::url_check::LOAD_BALANCER_ADDRESS_VAR.to_string(),
            emulator_address.to_string(),
        )]),
    };
    let policy = match &options.response_url_prefix {
        Some(prefix) => ResponseUrlPolicy::also_allowing(prefix.clone()),
        None => ResponseUrlPolicy::s3_only(),
    };
    hosted.stage::<NetworkStage>()?;
    hosted.stage::<EndpointsStage>()?;
    hosted.stage::<AlbStage>()?;
    hosted.stage::<ServiceStage>()?;
    let mut control: Control = hosted.build(stages::CONTROL)?;
    control.policy = policy.clone();
    hosted.serve(stages::CONTROL, Arc::new(control))?;
    let mut custom_resource: CustomResource = hosted.build(stages::CUSTOM_RESOURCE)?;
    custom_resource.policy = policy;
    let custom_resource = Arc::new(custom_resource);
    hosted.serve(stages::CUSTOM_RESOURCE, custom_resource.clone())?;
    for function in stages::functions() {
        hosted.deployed(function)?;
    }
    Ok((hosted, custom_resource))
}

impl LocalSystem {
    pub async fn start(options: LocalOptions) -> Result<Self, LocalError> {
        // The router's port must be known before moto starts: moto sends Lambda tasks there.
        let listener = std::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))?;
        listener.set_nonblocking(true)?;
        let router_port = listener.local_addr()?.port();
        let router_endpoint = format!("http://127.0.0.1:{router_port}");
        let mut env = vec![("MOTO_PORT".into(), router_port.to_string())];
        if !options.world.is_on("ecs-tasks") {
            env.push((
                "MOTO_ECS_SERVICE_RUNNING".into(),
                options.plain_running_tasks.to_string(),
            ));
        }
        let emulator = Emulator::start_with(EmulatorOptions {
            env,
            world: Some(options.world.clone()),
        })?;
        emulator.post(
            "/moto-api/config",
            r#"{"stepfunctions": {"execute_state_machine": true}}"#,
        )?;

        let stack = rehearsal::deploy(
            &local_aws::python_path(),
            &local_aws::launcher_path(),
            &emulator.endpoint(),
            &options.region,
            &repository_root().join("template.yaml"),
            STACK_NAME,
            &[("PollSeconds", options.poll_seconds.to_string())],
        )?;
        let state_machine_arn = stack.output("StateMachineArn")?.to_string();

        // Everything reaches the emulator through the router, which notes each AWS operation of
        // the functions; their SDK's retry sleeps run on the world's clock.
        let config = emulator
            .sdk_config(&options.region)
            .await
            .to_builder()
            .endpoint_url(&router_endpoint)
            .build();
        let functions_config = config
            .to_builder()
            .sleep_impl(local_aws::clock::ScaledSleep::on_world(
                options.world.scale,
                emulator.endpoint(),
            ))
            .timeout_config(local_aws::clock::timeouts(
                options.world.scale,
                Duration::from_secs(1),
            ))
            .build();
        let emulator_address = emulator.endpoint().replace("http://", "");
        let (hosted, custom_resource) =
            host(&functions_config, &options, &stack, &emulator_address)?;
        let mut functions = Functions::new(hosted.handlers, hosted.callers, emulator.endpoint())
            .with_scale(options.world.scale);
        if options.world.is_on("lambda-timeouts") {
            functions = functions.with_timeouts();
        }
        if options.world.is_on("iam") {
            let direct = emulator.sdk_config(&options.region).await;
            functions = functions.with_iam(crate::router::Iam {
                check: crate::iam::IamCheck::start()?,
                tags: crate::iam::TagReader::new(&direct),
            });
        }
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
            stack,
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
            .filter(|op| crate::faults::is_mutating(op))
            .collect()
    }

    pub fn clear_calls(&self) {
        self.functions.clear_calls();
    }

    /// Configuration for calling AWS as the stack's function `logical_id` would: through the
    /// router, under its role's policies and the faults aimed at it.
    pub fn config_as(&self, logical_id: &str) -> Option<SdkConfig> {
        let deployed = self
            .stack
            .functions
            .iter()
            .find(|f| f.logical_id == logical_id)?;
        Some(as_function(&self.config, &deployed.name))
    }

    /// Where Lambda's Invoke API answers for the stack's functions.
    pub fn lambda_endpoint(&self) -> &str {
        self.config.endpoint_url().unwrap_or_default()
    }

    /// The faults the router injects into the functions' calls and invocations.
    pub fn faults(&self) -> &crate::faults::FaultPlan {
        self.functions.faults()
    }
}
