//! Sleeps on the world's clock: the SDK's retry backoff of the functions hosted locally (and of
//! the stage tests' clients) lasts world seconds, which pass `scale` times faster than wall
//! seconds.

use std::time::Duration;

use aws_config::timeout::TimeoutConfig;

use aws_smithy_async::rt::sleep::{AsyncSleep, SharedAsyncSleep, Sleep};

#[derive(Debug, Clone)]
pub struct ScaledSleep {
    scale: f64,
}

impl ScaledSleep {
    pub fn shared(scale: f64) -> SharedAsyncSleep {
        SharedAsyncSleep::new(Self {
            scale: scale.max(1.0),
        })
    }
}

impl AsyncSleep for ScaledSleep {
    fn sleep(&self, duration: Duration) -> Sleep {
        let wall = duration.div_f64(self.scale);
        Sleep::new(tokio::time::sleep(wall))
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
