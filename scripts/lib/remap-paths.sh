# Sourced by the release builds: panic locations and debug info name files relative to the
# checkout, the cargo registry and the toolchain, never by this machine's paths.
remap_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
remap_cargo=${CARGO_HOME:-$HOME/.cargo}
remap_rustup=${RUSTUP_HOME:-$HOME/.rustup}
export RUSTFLAGS="${RUSTFLAGS:-} --remap-path-prefix=$remap_root=. --remap-path-prefix=$remap_cargo=cargo --remap-path-prefix=$remap_rustup=rustup"
