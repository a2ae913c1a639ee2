//! Sleeps on the world's clock: the SDK's retry backoff of the functions hosted locally (and of
//! the stage tests' clients) lasts world seconds, which pass `scale` times faster than wall
//! seconds while the emulator is idle, and not at all while it works.
//!
//! One watcher thread per emulator reads its clock while anything sleeps on it, and every
//! sleep follows that one reading. Many executions at once keep hundreds of sleeps (each SDK
//! call's timeouts among them) pending: if each asked the emulator for the time, those
//! questions would take the emulator's one interpreter from the calls it models, and the world
//! would hardly move on.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use aws_config::timeout::TimeoutConfig;

use aws_smithy_async::rt::sleep::{AsyncSleep, SharedAsyncSleep, Sleep};
use tokio::sync::watch;

/// How often the watcher reads the clock while something sleeps on it.
const WATCH_EVERY: Duration = Duration::from_millis(20);
/// A reading younger than this starts a sleep (the watcher reads every [`WATCH_EVERY`]).
const FRESH: Duration = Duration::from_millis(60);
/// After this many failed reads in a row the emulator is taken to be gone: the sleeps end.
const GONE_AFTER_FAILURES: u32 = 50;

/// The world time read at `at` (wall).
#[derive(Debug, Clone, Copy)]
struct Reading {
    world: f64,
    at: Instant,
}

type Watchers = Mutex<HashMap<String, watch::Sender<Option<Reading>>>>;

fn watchers() -> &'static Watchers {
    static WATCHERS: OnceLock<Watchers> = OnceLock::new();
    WATCHERS.get_or_init(Default::default)
}

/// The readings of the world clock of the emulator at `endpoint`; its watcher starts with the
/// first subscriber.
fn subscribe(endpoint: &str) -> watch::Receiver<Option<Reading>> {
    let mut watchers = watchers().lock().unwrap_or_else(|e| e.into_inner());
    if let Some(sender) = watchers.get(endpoint) {
        return sender.subscribe();
    }
    let (sender, receiver) = watch::channel(None);
    watchers.insert(endpoint.to_string(), sender.clone());
    let endpoint = endpoint.to_string();
    std::thread::Builder::new()
        .name("world-clock".into())
        .spawn(move || watch_clock(&endpoint, &sender))
        .expect("a thread for the world clock's watcher");
    receiver
}

fn watch_clock(endpoint: &str, sender: &watch::Sender<Option<Reading>>) {
    let mut failures = 0;
    loop {
        std::thread::sleep(WATCH_EVERY);
        if sender.receiver_count() == 0 {
            continue;
        }
        match crate::world_now_at(endpoint) {
            Ok(world) => {
                failures = 0;
                sender.send_replace(Some(Reading {
                    world,
                    at: Instant::now(),
                }));
            }
            Err(_) => failures += 1,
        }
        if failures >= GONE_AFTER_FAILURES {
            watchers()
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(endpoint);
            sender.send_replace(Some(Reading {
                world: f64::INFINITY,
                at: Instant::now(),
            }));
            return;
        }
    }
}

/// Waits `seconds` of world time at the emulator at `endpoint`, whose world runs at most
/// `scale` times faster than the wall clock.
pub async fn sleep_on_world(endpoint: &str, scale: f64, seconds: f64) {
    let mut clock = subscribe(endpoint);
    // A reading taken while nothing slept may be old, and the clock may have stood still since:
    // the sleep starts from one taken now.
    let fresh = |reading: &Option<Reading>| reading.is_some_and(|r| r.at.elapsed() < FRESH);
    let Ok(Some(first)) = clock.wait_for(fresh).await.map(|r| *r) else {
        return;
    };
    // Even a fresh reading is a few milliseconds old: counted from the latest world time it
    // could stand for now, so the sleep never ends early.
    let start = first.world + first.at.elapsed().as_secs_f64() * scale;
    let end = start + seconds;
    tokio::time::sleep(Duration::from_secs_f64(seconds / scale)).await;
    let _ = clock
        .wait_for(|reading| reading.is_some_and(|r| r.world >= end))
        .await;
}

#[derive(Debug, Clone)]
pub struct ScaledSleep {
    scale: f64,
    /// The emulator whose world clock the sleep follows; without one, wall time / scale.
    world: Option<String>,
}

impl ScaledSleep {
    /// Sleeps of `duration / scale` of wall time: for a world that runs at its scale.
    pub fn shared(scale: f64) -> SharedAsyncSleep {
        SharedAsyncSleep::new(Self {
            scale: scale.max(1.0),
            world: None,
        })
    }

    /// Sleeps until the world clock of the emulator at `endpoint` has moved on by the duration.
    /// The world stands still while the emulator works, so under load (many executions at
    /// once) a wall-clock sleep would end before the AWS seconds it stands for have passed: a
    /// retry would come before the eventual consistency it waits out could have settled.
    pub fn on_world(scale: f64, endpoint: impl Into<String>) -> SharedAsyncSleep {
        SharedAsyncSleep::new(Self {
            scale: scale.max(1.0),
            world: Some(endpoint.into()),
        })
    }
}

impl AsyncSleep for ScaledSleep {
    fn sleep(&self, duration: Duration) -> Sleep {
        let (scale, world) = (self.scale, self.world.clone());
        Sleep::new(async move {
            match world {
                Some(endpoint) => sleep_on_world(&endpoint, scale, duration.as_secs_f64()).await,
                None => tokio::time::sleep(duration.div_f64(scale)).await,
            }
        })
    }
}

/// The functions' SDK timeouts for a world running `scale` times faster than the wall clock.
/// They run on the scaled sleep, so each is stretched until one attempt may last at least
/// `attempt_wall` on the wall clock: the emulator takes real milliseconds to answer, which AWS
/// does not. The stretch is capped at 5 so an attempt still ends before a stage function's
/// Lambda timeout (120 AWS seconds, against an attempt's 20).
pub fn timeouts(scale: f64, attempt_wall: Duration) -> TimeoutConfig {
    let attempt = provisioner_core::aws::ATTEMPT_TIMEOUT.as_secs_f64();
    let stretch = (attempt_wall.as_secs_f64() * scale / attempt).clamp(1.0, 5.0);
    provisioner_core::aws::timeouts(stretch)
}
