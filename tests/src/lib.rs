//! What the whole-system tests share: the world they run in.

use local_aws::World;
use local_lambda::LocalOptions;

/// The realistic world the whole-system tests run in, every behaviour on, its clock faster than
/// the local run's so a test takes seconds.
pub fn world() -> World {
    World::realistic().with_scale(40.0)
}

/// The local system on that world.
pub fn options() -> LocalOptions {
    LocalOptions {
        world: world(),
        ..LocalOptions::default()
    }
}
