//! The `fargate-provisioner` binary as a person uses it: `local --keep`, then `status`, `list`
//! and `run` against the kept system from another folder, checked on the text they print.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_fargate-provisioner");

/// A `local --keep` process, stopped with SIGTERM (as Ctrl-C would) when dropped, also when a
/// test fails: it then stops its emulator.
struct Kept {
    child: Child,
    stderr: PathBuf,
    stdout: PathBuf,
}

impl Kept {
    fn start(folder: &Path, args: &[&str]) -> Kept {
        let (stdout, stderr) = (folder.join("keep.out"), folder.join("keep.err"));
        let child = Command::new(BIN)
            .args(["local", "--keep"])
            .args(args)
            .current_dir(folder)
            .stdout(std::fs::File::create(&stdout).unwrap())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .expect("the binary starts");
        Kept {
            child,
            stderr,
            stdout,
        }
    }

    /// Waits until it says how to reach it; returns what it printed on standard error.
    fn wait_until_kept(&mut self) -> String {
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            let said = std::fs::read_to_string(&self.stderr).unwrap_or_default();
            if said.contains("stop it with Ctrl-C") {
                return said;
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "local --keep ended ({status}) before keeping:\n{said}\n{}",
                    std::fs::read_to_string(&self.stdout).unwrap_or_default()
                );
            }
            assert!(Instant::now() < deadline, "not kept in time:\n{said}");
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    fn terminate(&mut self) -> Option<std::process::ExitStatus> {
        // SIGTERM through the shell's own `kill`, which every machine has.
        let _ = Command::new("sh")
            .args(["-c", &format!("kill -TERM {}", self.child.id())])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        None
    }
}

impl Drop for Kept {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            self.terminate();
        }
    }
}

/// The `export` lines it printed, as variables to run the other commands with.
fn exports(said: &str) -> Vec<(String, String)> {
    said.lines()
        .filter_map(|l| l.trim().strip_prefix("export "))
        .flat_map(|l| l.split_whitespace())
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn run_in(folder: &Path, env: &[(String, String)], args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(folder)
        .envs(env.iter().cloned())
        .env_remove("RUST_LOG")
        .output()
        .expect("the binary runs")
}

fn text(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn folder(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("fp-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

const IMAGE: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com/web:1";

/// A load balancer named as `environment`'s would be, made by someone else.
async fn foreign_load_balancer(env: &[(String, String)], environment: &str) {
    for (k, v) in env {
        std::env::set_var(k, v);
    }
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    // Waits out EC2's eventual consistency, which the local world has too.
    let ec2 = provisioner_core::not_yet::patient_ec2(&aws_sdk_ec2::Client::new(&config));
    let vpc = ec2
        .create_vpc()
        .cidr_block("10.9.0.0/16")
        .send()
        .await
        .unwrap();
    let vpc_id = vpc.vpc().and_then(|v| v.vpc_id()).unwrap().to_string();
    let mut subnets = Vec::new();
    for (cidr, zone) in [("10.9.0.0/24", "us-east-1a"), ("10.9.1.0/24", "us-east-1b")] {
        let subnet = ec2
            .create_subnet()
            .vpc_id(&vpc_id)
            .cidr_block(cidr)
            .availability_zone(zone)
            .send()
            .await
            .unwrap();
        subnets.push(
            subnet
                .subnet()
                .and_then(|s| s.subnet_id())
                .unwrap()
                .to_string(),
        );
    }
    aws_sdk_elasticloadbalancingv2::Client::new(&config)
        .create_load_balancer()
        .name(format!("{environment}-alb"))
        .set_subnets(Some(subnets))
        .send()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_kept_local_system_answers_status_list_and_runs_with_output_that_says_why() {
    let home = folder("keep");
    std::fs::write(
        home.join("three.json"),
        format!(r#"{{"name": "three", "service": {{"image": "{IMAGE}", "desiredCount": 3}}}}"#),
    )
    .unwrap();
    // A relative --spec is read from the caller's folder.
    let mut kept = Kept::start(&home, &["--scale", "60", "--spec", "three.json"]);
    let said = kept.wait_until_kept();
    let created = std::fs::read_to_string(&kept.stdout).unwrap();
    assert!(created.contains("succeeded:"), "{created}");
    // The local run honours the spec's desired count.
    assert!(created.contains("3 of 3 tasks running"), "{created}");
    assert!(said.contains("status three"), "{said}");
    let env = exports(&said);
    for var in [
        "AWS_ENDPOINT_URL",
        "STATE_MACHINE_ARN",
        "FARGATE_PROVISIONER_TABLE",
    ] {
        assert!(env.iter().any(|(k, _)| k == var), "{var} in {said}");
    }

    let elsewhere = folder("elsewhere");
    let listed = run_in(&elsewhere, &env, &["list"]);
    assert!(listed.status.success(), "{listed:?}");
    let lines: Vec<String> = text(&listed).lines().map(str::to_string).collect();
    assert!(lines[0].starts_with("ENVIRONMENT"), "{lines:?}");
    assert!(
        lines.iter().any(|l| l.starts_with("three")
            && l.contains("the console")
            && l.contains("apply succeeded")
            && l.contains("http://three-alb")),
        "{lines:?}"
    );
    let json: Value =
        serde_json::from_slice(&run_in(&elsewhere, &env, &["--output", "json", "list"]).stdout)
            .expect("list --output json prints JSON");
    assert_eq!(json[0]["environment"], "three");
    assert_eq!(json[0]["state"], "apply succeeded");

    let status = run_in(&elsewhere, &env, &["status", "three"]);
    let shown = text(&status);
    assert!(status.status.success(), "{shown}");
    for expected in [
        "owner            the console",
        "state            apply succeeded",
        "3 of 3 tasks running",
        "PRIMARY COMPLETED",
        &format!("image            {IMAGE}"),
        "URL              http://three-alb",
        "running digest   sha256:",
    ] {
        assert!(shown.contains(expected), "{expected:?} in\n{shown}");
    }
    assert_eq!(shown.matches("  target ").count(), 3, "{shown}");
    let missing = run_in(&elsewhere, &env, &["status", "nothing"]);
    assert!(!missing.status.success());
    assert!(
        text(&missing).contains("no environment nothing"),
        "{missing:?}"
    );

    // A plan of a changed spec: the change field by field and the cost; nothing is changed.
    std::fs::write(
        elsewhere.join("two.json"),
        format!(r#"{{"name": "three", "service": {{"image": "{IMAGE}", "desiredCount": 2}}}}"#),
    )
    .unwrap();
    let planned = run_in(&elsewhere, &env, &["plan", "--spec", "two.json"]);
    let shown = text(&planned);
    assert!(planned.status.success(), "{shown}");
    for expected in [
        "plan for three: 0 to create, 1 to change, 0 to delete\nservice stage\n  ~ ECS service three: desiredCount 3 -> 2\n",
        "monthly cost of three in us-east-1",
        "Fargate            18.02 USD  2 tasks",
    ] {
        assert!(shown.contains(expected), "{expected:?} in\n{shown}");
    }
    let json: Value = serde_json::from_slice(
        &run_in(
            &elsewhere,
            &env,
            &["--output", "json", "plan", "--spec", "two.json"],
        )
        .stdout,
    )
    .expect("plan --output json prints JSON");
    assert_eq!(
        json["plan"]["changes"][0]["fields"][0]["from"], "3",
        "{json}"
    );
    assert_eq!(json["plan"]["changes"][0]["fields"][0]["to"], "2", "{json}");
    assert!(text(&run_in(&elsewhere, &env, &["status", "three"])).contains("3 of 3 tasks running"));

    // A spec refused before any change: the failing state, the error once, its reason, no
    // success line and no environment.
    std::fs::write(
        elsewhere.join("bad.json"),
        format!(r#"{{"name": "bad", "service": {{"image": "{IMAGE}", "cpu": 300}}}}"#),
    )
    .unwrap();
    let refused = run_in(&elsewhere, &env, &["run", "--spec", "bad.json"]);
    let shown = text(&refused);
    assert!(!refused.status.success(), "{shown}");
    assert!(shown.contains("ERR Prepare"), "{shown}");
    assert!(
        shown.contains("failed in Prepare: ValidationError: invalid environment spec: service.cpu: 300 is not a Fargate CPU value"),
        "{shown}"
    );
    assert!(
        !shown.contains("ValidationError: ValidationError"),
        "{shown}"
    );
    assert!(!shown.contains("succeeded"), "{shown}");
    assert!(!shown.contains("ok  Prepare"), "{shown}");
    assert!(!shown.contains("environment bad"), "{shown}");
    // Piped, the progress is plain lines: no terminal control codes.
    assert!(!shown.contains('\u{1b}'), "{shown:?}");

    // A stage that fails: the state, its stage, the error name and AWS's reason, once each.
    foreign_load_balancer(&env, "clash").await;
    std::fs::write(
        elsewhere.join("clash.json"),
        format!(r#"{{"name": "clash", "service": {{"image": "{IMAGE}"}}}}"#),
    )
    .unwrap();
    let failed = run_in(&elsewhere, &env, &["run", "--spec", "clash.json"]);
    let shown = text(&failed);
    assert!(!failed.status.success(), "{shown}");
    let line = shown
        .lines()
        .find(|l| l.starts_with("failed in "))
        .unwrap_or_else(|| panic!("a failure line in\n{shown}"));
    assert!(
        line.starts_with("failed in AlbApply (alb stage): Conflict: ")
            && line.contains("clash-alb")
            && !line.contains("alb stage: alb stage"),
        "{line}"
    );
    assert!(shown.contains("ERR ReportFailure"), "{shown}");
    assert!(!shown.contains("ok  ReportFailure"), "{shown}");
    // The run's own view of the environment says so too (the table is in the environment).
    assert!(shown.contains("state            apply failed"), "{shown}");
    let status = text(&run_in(&elsewhere, &env, &["status", "clash"]));
    assert!(status.contains("state            apply failed"), "{status}");
    assert!(
        status.contains(
            "last error       Conflict in the alb stage: a load balancer named clash-alb"
        ),
        "{status}"
    );
    let json: Value = serde_json::from_slice(
        &run_in(
            &elsewhere,
            &env,
            &["--output", "json", "run", "--spec", "clash.json"],
        )
        .stdout,
    )
    .expect("run --output json prints JSON");
    assert_eq!(json["outcome"]["status"], "FAILED");
    assert_eq!(json["outcome"]["failure"]["state"], "AlbApply");
    assert_eq!(json["outcome"]["failure"]["stage"], "alb");
    assert_eq!(json["outcome"]["failure"]["error"], "Conflict");

    // Under a terminal, a live line (redrawn in place) shows the state and its news.
    let script = format!("{BIN} run --destroy three");
    let mut pty = Command::new("script")
        .args(["-qec", &script, "/dev/null"])
        .current_dir(&elsewhere)
        .envs(env.iter().cloned())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("script(1) from util-linux runs");
    let mut live = String::new();
    pty.stdout
        .take()
        .unwrap()
        .read_to_string(&mut live)
        .unwrap();
    assert!(pty.wait().unwrap().success(), "{live}");
    assert!(
        live.contains("\u{1b}[2K"),
        "the live line is redrawn: {live:?}"
    );
    assert!(live.contains("NetworkDestroy"), "{live:?}");
    assert!(live.contains("nothing of three is left"), "{live:?}");
    let listed = text(&run_in(&elsewhere, &env, &["list"]));
    assert!(!listed.lines().any(|l| l.starts_with("three ")), "{listed}");

    // Ctrl-C (here SIGTERM) stops it.
    let stopped = kept.terminate().expect("it stops when asked");
    assert!(stopped.success(), "{stopped}");
    assert!(std::fs::read_to_string(&kept.stderr)
        .unwrap()
        .contains("stopping the local AWS"));
    let _ = std::fs::remove_dir_all(&home);
    let _ = std::fs::remove_dir_all(&elsewhere);
}
