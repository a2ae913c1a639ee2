//! Sleeps on the world's clock: the SDK's retry backoff of the functions hosted locally (and of
//! the stage tests' clients) lasts world seconds, which pass `scale` times faster than wall
//! seconds.

use std::time::Duration;

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
