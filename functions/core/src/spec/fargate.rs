//! Valid Fargate task CPU / memory pairs (ECS developer guide, "Task CPU and memory").

/// Memory values (MiB) Fargate accepts for a task CPU value, or `None` for an unknown CPU value.
pub fn valid_fargate_memory(cpu: i64) -> Option<Vec<i64>> {
    let gib = |n: i64| n * 1024;
    let range =
        |from: i64, to: i64, step: i64| (from..=to).step_by(step as usize).map(gib).collect();
    Some(match cpu {
        256 => vec![512, gib(1), gib(2)],
        512 => range(1, 4, 1),
        1024 => range(2, 8, 1),
        2048 => range(4, 16, 1),
        4096 => range(8, 30, 1),
        8192 => range(16, 60, 4),
        16384 => range(32, 120, 8),
        _ => return None,
    })
}

/// The CPU values Fargate accepts.
pub const FARGATE_CPU_VALUES: [i64; 7] = [256, 512, 1024, 2048, 4096, 8192, 16384];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_matches_the_documented_pairs() {
        assert_eq!(valid_fargate_memory(256), Some(vec![512, 1024, 2048]));
        assert_eq!(
            valid_fargate_memory(512).unwrap(),
            vec![1024, 2048, 3072, 4096]
        );
        assert_eq!(valid_fargate_memory(4096).unwrap().last(), Some(&30720));
        assert_eq!(
            valid_fargate_memory(8192).unwrap(),
            vec![
                16384, 20480, 24576, 28672, 32768, 36864, 40960, 45056, 49152, 53248, 57344, 61440
            ]
        );
        assert_eq!(valid_fargate_memory(16384).unwrap().first(), Some(&32768));
        assert_eq!(valid_fargate_memory(16384).unwrap().last(), Some(&122880));
        assert_eq!(valid_fargate_memory(300), None);
        for cpu in FARGATE_CPU_VALUES {
            assert!(valid_fargate_memory(cpu).is_some());
        }
    }
}
