//! Sleeps on the world's clock: the SDK's retry backoff of the functions hosted locally (and of
//! the stage tests' clients) lasts world seconds, which pass `scale` times faster than wall
//! seconds while the emulator is idle, and not at all while it works.

use std::time::Duration;

use aws_config::timeout::TimeoutConfig;

use aws_smithy_async::rt::sleep::{AsyncSleep, SharedAsyncSleep, Sleep};

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

/// World time at `endpoint`, read off the async runtime.
async fn world_now(endpoint: &str) -> Option<f64> {
    let endpoint = endpoint.to_string();
    tokio::task::spawn_blocking(move || crate::world_now_at(&endpoint).ok())
        .await
        .ok()
        .flatten()
}

impl AsyncSleep for ScaledSleep {
    fn sleep(&self, duration: Duration) -> Sleep {
        let (scale, world) = (self.scale, self.world.clone());
        Sleep::new(async move {
            let wall = duration.div_f64(scale);
            let Some(endpoint) = world else {
                return tokio::time::sleep(wall).await;
            };
            let Some(start) = world_now(&endpoint).await else {
                return tokio::time::sleep(wall).await;
            };
            let end = start + duration.as_secs_f64();
            tokio::time::sleep(wall).await;
            while let Some(now) = world_now(&endpoint).await {
                if now >= end {
                    return;
                }
                let left = Duration::from_secs_f64((end - now) / scale);
                tokio::time::sleep(left.max(Duration::from_millis(20))).await;
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
